package awsapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Signing names of the services the lab can serve.
const (
	ServiceELB            = "elasticloadbalancing"
	ServiceCloudWatch     = "monitoring"
	ServiceStates         = "states"
	ServiceSecretsManager = "secretsmanager"
	ServiceECS            = "ecs"
	ServiceLambda         = "lambda"
)

// Router is the lab's single AWS endpoint: it dispatches each request to a
// service by the SigV4 credential scope of its Authorization header
// ("Credential=AKID/date/region/<service>/aws4_request"), as AWS's own
// endpoints are per service. Signatures are not verified. Unsigned
// requests are recognised by their protocol (X-Amz-Target prefix, rpcv2
// path, awsQuery Version).
type Router struct {
	log *slog.Logger

	mu       sync.RWMutex
	services map[string]http.Handler
}

// NewRouter returns a router with no services.
func NewRouter(log *slog.Logger) *Router {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{log: log, services: map[string]http.Handler{}}
}

// Handle serves the service with signing name service with h.
func (r *Router) Handle(service string, h http.Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.services[service] = h
}

// Services lists the signing names served.
func (r *Router) Services() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.services))
	for s := range r.services {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// SigningName extracts the service from a SigV4 Authorization header.
func SigningName(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	parts := strings.Split(strings.SplitN(cred, ",", 2)[0], "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}

// guessService recognises an unsigned request by its protocol.
func guessService(req *http.Request) string {
	target := req.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "AWSStepFunctions."):
		return ServiceStates
	case strings.HasPrefix(target, "secretsmanager."):
		return ServiceSecretsManager
	case strings.HasPrefix(target, "AmazonEC2ContainerServiceV20141113."):
		return ServiceECS
	case strings.HasPrefix(req.URL.Path, "/service/GraniteServiceVersion20100801/"):
		return ServiceCloudWatch
	case strings.HasPrefix(req.URL.Path, "/2015-03-31/functions/"):
		return ServiceLambda
	}
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if err := req.ParseForm(); err == nil {
			switch req.PostForm.Get("Version") {
			case "2015-12-01":
				return ServiceELB
			case "2010-08-01":
				return ServiceCloudWatch
			}
		}
	}
	return ""
}

func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	service := SigningName(req.Header.Get("Authorization"))
	if service == "" {
		service = guessService(req)
	}
	r.mu.RLock()
	h, ok := r.services[service]
	r.mu.RUnlock()
	if !ok {
		r.log.Warn("request for a service the lab does not serve", "service", service, "path", req.URL.Path, "target", req.Header.Get("X-Amz-Target"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":%q}`,
			fmt.Sprintf("the relayshift lab does not serve the %q service (it serves %s)", service, strings.Join(r.Services(), ", ")))
		return
	}
	h.ServeHTTP(w, req)
}

// form reads awsQuery parameters: "A.member.1.B", lists as ".member.N",
// an explicitly empty list as "A=".
type form struct{ url.Values }

// has reports whether any parameter is prefix or starts with prefix+".".
func (f form) has(prefix string) bool {
	for k := range f.Values {
		if k == prefix || strings.HasPrefix(k, prefix+".") {
			return true
		}
	}
	return false
}

// str returns a parameter and whether it was sent.
func (f form) str(key string) (string, bool) {
	v, ok := f.Values[key]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// members returns the prefixes of a list's members in order, and whether
// the list was sent at all (an empty list is sent as "A=").
func (f form) members(prefix string) ([]string, bool) {
	if !f.has(prefix) {
		return nil, false
	}
	var out []string
	for i := 1; ; i++ {
		p := fmt.Sprintf("%s.member.%d", prefix, i)
		if !f.has(p) {
			break
		}
		out = append(out, p)
	}
	return out, true
}

// strings returns a list of strings.
func (f form) strings(prefix string) ([]string, bool) {
	ms, ok := f.members(prefix)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		v, _ := f.str(m)
		out = append(out, v)
	}
	return out, true
}
