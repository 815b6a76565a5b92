package relaysim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultModels returns the models a Sim serves when Config.Models is empty.
func DefaultModels() []string { return []string{"sim-small", "sim-large"} }

// Config configures a Sim.
type Config struct {
	// Models are the model ids listed by /v1/models and accepted by
	// /v1/chat/completions. Default: DefaultModels().
	Models []string
	// APIKey, when set, must be sent as "Authorization: Bearer <key>" on
	// /v1/*; otherwise those answer 401.
	APIKey string
	// Version is reported by /health and in the X-Relay-Version header of
	// every response.
	Version string
	// TokenInterval is the delay between two streamed tokens.
	TokenInterval time.Duration
	// Faults are the faults in force at start.
	Faults Faults
	// Now is the clock used for the slow start; default time.Now.
	Now func() time.Time
}

// Faults are the fault knobs. The zero value is a healthy relay.
type Faults struct {
	// ErrorRate is the share (0-1) of eligible chat requests answered with
	// ErrorStatus. It is deterministic and evenly spread: the n-th eligible
	// request fails when floor(n*rate) > floor((n-1)*rate), so 0.2 fails
	// requests 5, 10, 15...
	ErrorRate float64 `json:"errorRate"`
	// ErrorStatus is the status of an injected error; default 500.
	ErrorStatus int `json:"errorStatus"`
	// Latency is added before every eligible chat response starts.
	Latency Duration `json:"latency"`
	// FirstTokenDelay delays the first content token (streams send their
	// role chunk first, as OpenAI does); non-streamed responses are delayed
	// as much, since they wait for the whole generation.
	FirstTokenDelay Duration `json:"firstTokenDelay"`
	// BrokenSSE breaks the framing of streamed responses: events are not
	// separated by blank lines and the final "data: [DONE]" is missing.
	BrokenSSE bool `json:"brokenSSE"`
	// WrongSchema answers in the legacy text-completion shape instead of
	// chat.completion / chat.completion.chunk.
	WrongSchema bool `json:"wrongSchema"`
	// CrashAfter, when positive, serves that many eligible chat requests
	// (counted from when it was set) and then crashes: from then on every
	// request, on every path, has its connection dropped without a
	// response.
	CrashAfter int `json:"crashAfter"`
	// Crash crashes the relay now.
	Crash bool `json:"crash"`
	// StartDelay makes the relay answer 503 on every path until it has
	// been up that long (counted from New, or from the SetFaults that
	// changed it).
	StartDelay Duration `json:"startDelay"`
	// ExemptHeader, when set, limits ErrorRate, Latency, FirstTokenDelay,
	// BrokenSSE, WrongSchema and CrashAfter's count to requests that do NOT
	// carry this header: "Name" (any value) or "Name: value".
	ExemptHeader string `json:"exemptHeader"`
}

// Validate checks the knobs.
func (f Faults) Validate() error {
	var errs []error
	if f.ErrorRate < 0 || f.ErrorRate > 1 || math.IsNaN(f.ErrorRate) {
		errs = append(errs, fmt.Errorf("errorRate %v outside 0-1", f.ErrorRate))
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599) {
		errs = append(errs, fmt.Errorf("errorStatus %d is not a 4xx or 5xx status", f.ErrorStatus))
	}
	for name, d := range map[string]Duration{"latency": f.Latency, "firstTokenDelay": f.FirstTokenDelay, "startDelay": f.StartDelay} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", name, time.Duration(d)))
		}
	}
	if f.CrashAfter < 0 {
		errs = append(errs, fmt.Errorf("crashAfter %d is negative", f.CrashAfter))
	}
	if f.ExemptHeader != "" {
		if name, _, _ := strings.Cut(f.ExemptHeader, ":"); !validHeaderName(strings.TrimSpace(name)) {
			errs = append(errs, fmt.Errorf("exemptHeader %q: want \"Name\" or \"Name: value\"", f.ExemptHeader))
		}
	}
	return errors.Join(errs...)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 127 || !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("250ms") and also reads a number of nanoseconds.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration: want a string such as \"250ms\" or nanoseconds")
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Stats counts what a Sim has served.
type Stats struct {
	Requests int `json:"requests"`
	Chat     int `json:"chat"`
	Streams  int `json:"streams"`
	// Eligible counts chat requests the faults applied to (not exempt).
	Eligible int `json:"eligible"`
	// Exempt counts chat requests that carried the exempt header.
	Exempt int `json:"exempt"`
	// Errors counts injected error responses.
	Errors int `json:"errors"`
	// Dropped counts requests dropped by a crash.
	Dropped int `json:"dropped"`
	// Unavailable counts requests refused during the slow start.
	Unavailable int `json:"unavailable"`
}

// Sim is the stand-in relay. It is safe for concurrent use.
type Sim struct {
	cfg     Config
	models  map[string]bool
	now     func() time.Time
	mux     *http.ServeMux
	mu      sync.Mutex
	faults  Faults
	started time.Time
	crashed bool
	// crashBase is the eligible count when CrashAfter was last set.
	crashBase int
	seq       int
	stats     Stats
}

// New returns a Sim for cfg.
func New(cfg Config) (*Sim, error) {
	if len(cfg.Models) == 0 {
		cfg.Models = DefaultModels()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenInterval < 0 {
		return nil, fmt.Errorf("relaysim: token interval %s is negative", cfg.TokenInterval)
	}
	if err := cfg.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("relaysim: %w", err)
	}
	s := &Sim{cfg: cfg, models: map[string]bool{}, now: cfg.Now, faults: cfg.Faults, started: cfg.Now()}
	for _, m := range cfg.Models {
		s.models[m] = true
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /ready", s.health)
	s.mux.HandleFunc("GET /v1/models", s.listModels)
	s.mux.HandleFunc("POST /v1/chat/completions", s.chat)
	s.mux.HandleFunc("GET /_relaysim/faults", s.getFaults)
	s.mux.HandleFunc("PUT /_relaysim/faults", s.putFaults)
	s.mux.HandleFunc("GET /_relaysim/stats", s.getStats)
	return s, nil
}

// Faults returns the faults in force.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces the faults in force. Setting Crash false revives a
// crashed relay; changing StartDelay restarts the slow-start clock.
func (s *Sim) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.StartDelay != s.faults.StartDelay {
		s.started = s.now()
	}
	if f.CrashAfter != s.faults.CrashAfter {
		s.crashBase = s.stats.Eligible
	}
	if !f.Crash && f.CrashAfter == 0 {
		s.crashed = false
	}
	s.faults = f
	return nil
}

// Stats returns the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	admin := strings.HasPrefix(r.URL.Path, "/_relaysim/")
	s.mu.Lock()
	s.stats.Requests++
	crashed := s.crashed || s.faults.Crash
	starting := s.now().Sub(s.started) < time.Duration(s.faults.StartDelay)
	if crashed && !admin {
		s.stats.Dropped++
	} else if starting && !admin {
		s.stats.Unavailable++
	}
	s.mu.Unlock()
	if s.cfg.Version != "" {
		w.Header().Set("X-Relay-Version", s.cfg.Version)
	}
	switch {
	case crashed && !admin:
		// NOTE: net/http recovers http.ErrAbortHandler by closing the
		// connection without a response (and without logging), which is
		// what a client sees when the process behind it dies.
		panic(http.ErrAbortHandler)
	case starting && !admin:
		writeError(w, http.StatusServiceUnavailable, "relay is starting", "server_error", "starting")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Sim) health(w http.ResponseWriter, r *http.Request) {
	status := "ok"
	if r.URL.Path == "/ready" {
		status = "ready"
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": status, "version": s.cfg.Version})
}

func (s *Sim) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.APIKey == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.APIKey)) == 1 {
		return true
	}
	writeError(w, http.StatusUnauthorized, "invalid API key", "invalid_request_error", "invalid_api_key")
	return false
}

func (s *Sim) listModels(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, m := range s.cfg.Models {
		out.Data = append(out.Data, model{ID: m, Object: "model", Created: 1700000000, OwnedBy: "relaysim"})
	}
	writeJSON(w, http.StatusOK, out)
}

// chatRequest is the part of a chat completion request the Sim reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content any    `json:"content"`
	} `json:"messages"`
	Stream              bool `json:"stream"`
	MaxTokens           int  `json:"max_tokens"`
	MaxCompletionTokens int  `json:"max_completion_tokens"`
}

// plan is what one chat request will get, decided under the lock.
type plan struct {
	id          string
	faults      Faults
	fail        bool
	crashBefore bool
}

func (s *Sim) exempt(r *http.Request, f Faults) bool {
	if f.ExemptHeader == "" {
		return false
	}
	name, value, hasValue := strings.Cut(f.ExemptHeader, ":")
	got, present := r.Header[http.CanonicalHeaderKey(strings.TrimSpace(name))]
	if !present {
		return false
	}
	if !hasValue {
		return true
	}
	for _, v := range got {
		if strings.TrimSpace(v) == strings.TrimSpace(value) {
			return true
		}
	}
	return false
}

// decide counts the request and decides its faults.
func (s *Sim) decide(r *http.Request, stream bool) plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Chat++
	if stream {
		s.stats.Streams++
	}
	s.seq++
	p := plan{id: "chatcmpl-sim-" + strconv.Itoa(s.seq)}
	f := s.faults
	if s.exempt(r, f) {
		s.stats.Exempt++
		return p
	}
	s.stats.Eligible++
	n := s.stats.Eligible
	if f.CrashAfter > 0 && n-s.crashBase > f.CrashAfter {
		s.crashed = true
		s.stats.Dropped++
		return plan{crashBefore: true}
	}
	p.faults = f
	if f.ErrorRate > 0 {
		// A small epsilon keeps 0.2*5 from landing just below 1.
		cur := math.Floor(float64(n)*f.ErrorRate + 1e-9)
		prev := math.Floor(float64(n-1)*f.ErrorRate + 1e-9)
		p.fail = cur > prev
	}
	if p.fail {
		s.stats.Errors++
	}
	return p
}

func (s *Sim) chat(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var req chatRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "request body is not a JSON chat completion request", "invalid_request_error", "invalid_json")
		return
	}
	if !s.models[req.Model] {
		writeError(w, http.StatusNotFound, fmt.Sprintf("the model %q does not exist", req.Model), "invalid_request_error", "model_not_found")
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "messages must not be empty", "invalid_request_error", "invalid_messages")
		return
	}
	p := s.decide(r, req.Stream)
	if p.crashBefore {
		panic(http.ErrAbortHandler)
	}
	if !sleep(r.Context(), time.Duration(p.faults.Latency)) {
		return
	}
	if p.fail {
		status := p.faults.ErrorStatus
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, status, "injected fault", "server_error", "relaysim_fault")
		return
	}
	max := req.MaxTokens
	if req.MaxCompletionTokens > 0 {
		max = req.MaxCompletionTokens
	}
	tokens := s.tokens(max)
	prompt := 0
	for _, m := range req.Messages {
		if c, ok := m.Content.(string); ok {
			prompt += len(strings.Fields(c))
		}
	}
	if req.Stream {
		s.stream(w, r, p, req.Model, tokens)
		return
	}
	if !sleep(r.Context(), time.Duration(p.faults.FirstTokenDelay)+time.Duration(len(tokens)-1)*s.cfg.TokenInterval) {
		return
	}
	content := strings.Join(tokens, "")
	created := s.now().Unix()
	if p.faults.WrongSchema {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": p.id, "object": "text_completion", "created": created, "model": req.Model,
			"choices": []map[string]any{{"index": 0, "text": content, "finish_reason": "stop"}},
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": p.id, "object": "chat.completion", "created": created, "model": req.Model,
		"choices": []map[string]any{{
			"index": 0, "message": map[string]string{"role": "assistant", "content": content}, "finish_reason": "stop",
		}},
		"usage": map[string]int{"prompt_tokens": prompt, "completion_tokens": len(tokens), "total_tokens": prompt + len(tokens)},
	})
}

// tokens returns the reply, one element per token: the words of a fixed
// sentence, cut to max tokens (default 16).
func (s *Sim) tokens(max int) []string {
	words := strings.Fields("Hello from relaysim, a deterministic stand-in relay; this reply is always the same and says nothing of interest.")
	if s.cfg.Version != "" {
		words = append([]string{"[" + s.cfg.Version + "]"}, words...)
	}
	if max <= 0 {
		max = 16
	}
	if max < len(words) {
		words = words[:max]
	}
	out := make([]string, len(words))
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		out[i] = w
	}
	return out
}

func (s *Sim) stream(w http.ResponseWriter, r *http.Request, p plan, model string, tokens []string) {
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	created := s.now().Unix()
	sep := "\n\n"
	if p.faults.BrokenSSE {
		sep = "\n"
	}
	send := func(choice map[string]any) bool {
		chunk := map[string]any{"id": p.id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []map[string]any{choice}}
		if p.faults.WrongSchema {
			chunk["object"] = "text_completion"
		}
		b, _ := json.Marshal(chunk)
		if _, err := fmt.Fprintf(w, "data: %s%s", b, sep); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	delta := func(d map[string]string, finish any) map[string]any {
		if p.faults.WrongSchema {
			return map[string]any{"index": 0, "text": d["content"], "finish_reason": finish}
		}
		return map[string]any{"index": 0, "delta": d, "finish_reason": finish}
	}
	if !send(delta(map[string]string{"role": "assistant", "content": ""}, nil)) {
		return
	}
	if !sleep(r.Context(), time.Duration(p.faults.FirstTokenDelay)) {
		return
	}
	for i, t := range tokens {
		if i > 0 && !sleep(r.Context(), s.cfg.TokenInterval) {
			return
		}
		if !send(delta(map[string]string{"content": t}, nil)) {
			return
		}
	}
	if !send(delta(map[string]string{}, "stop")) {
		return
	}
	if !p.faults.BrokenSSE {
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		if fl != nil {
			fl.Flush()
		}
	}
}

func (s *Sim) getFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Sim) putFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeError(w, http.StatusBadRequest, "faults: "+err.Error(), "invalid_request_error", "invalid_faults")
		return
	}
	if err := s.SetFaults(f); err != nil {
		writeError(w, http.StatusBadRequest, "faults: "+err.Error(), "invalid_request_error", "invalid_faults")
		return
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Sim) getStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeError answers in OpenAI's error shape.
func writeError(w http.ResponseWriter, status int, msg, typ, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
