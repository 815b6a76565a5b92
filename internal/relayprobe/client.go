package relayprobe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// errRequestTimeout is the cause of a request's own timeout, told apart
// from its caller's context ending.
var errRequestTimeout = errors.New("request timeout")

// Class names why a probe failed. The empty Class is success.
type Class string

// The failure classes.
const (
	OK Class = ""
	// Auth: HTTP 401 or 403 (a wrong or missing API key).
	Auth Class = "auth"
	// RateLimited: HTTP 429.
	RateLimited Class = "429"
	// ClientError: any other 4xx (e.g. 404 for an unknown model).
	ClientError Class = "4xx"
	// ServerError: HTTP 5xx, including the load balancer's 502/503/504.
	ServerError Class = "5xx"
	// Timeout: no complete answer within the request timeout.
	Timeout Class = "timeout"
	// Connection: the connection failed or was dropped.
	Connection Class = "connection"
	// BadSchema: a 200 whose body is not the OpenAI shape, or another
	// unexpected status.
	BadSchema Class = "bad_schema"
	// BadSSE: a stream whose server-sent-event framing is broken.
	BadSSE Class = "bad_sse"
)

// Classes lists the failure classes in a fixed order (the order reports
// use to break ties).
func Classes() []Class {
	return []Class{Auth, RateLimited, ClientError, ServerError, Timeout, Connection, BadSchema, BadSSE}
}

// Failure is a classified probe failure.
type Failure struct {
	Class  Class
	Status int
	Detail string
	err    error
}

func (f *Failure) Error() string {
	return string(f.Class) + ": " + f.Detail
}

// Target is where probes go: the test route of the candidate colour.
type Target struct {
	// URL is the base URL (scheme, host, optional port and path prefix);
	// /health, /v1/models and /v1/chat/completions are joined to it.
	URL string
	// HeaderName and HeaderValue, when set, are sent on every request (a
	// routing header for a listener rule that sends it to the candidate).
	// A header named Host sets the request's Host.
	HeaderName, HeaderValue string
}

// ParseHeader parses "Name: value" as used by RELAYSHIFT_TEST_HEADER.
func ParseHeader(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || value == "" || strings.ContainsAny(name, " \t") {
		return "", "", fmt.Errorf("header %q: want \"Name: value\"", s)
	}
	for _, r := range name {
		if r > 127 || !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", "", fmt.Errorf("header name %q has characters a header name cannot have", name)
		}
	}
	if strings.EqualFold(name, "Authorization") {
		return "", "", errors.New("the routing header cannot be Authorization (the API key is sent there)")
	}
	return name, value, nil
}

// ParseURL checks a test route URL: absolute http(s), a host, no
// credentials, query or fragment.
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		// The parse error would repeat the URL, credentials included.
		return nil, errors.New("URL does not parse")
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("URL %q: want http or https", shown)
	case u.Host == "":
		return nil, fmt.Errorf("URL %q has no host", shown)
	case u.User != nil:
		return nil, fmt.Errorf("URL %q must not carry credentials", shown)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("URL %q must not have a query or fragment", shown)
	}
	return u, nil
}

// Client sends OpenAI-compatible probes to a Target. It never logs; its
// failure details never contain the API key.
type Client struct {
	base        *url.URL
	headerName  string
	headerValue string
	apiKey      string
	http        *http.Client
	// Timeout bounds each request, streams included.
	Timeout time.Duration
	// Prompt is the user message of chat probes.
	Prompt string
	now    func() time.Time
}

// NewClient returns a Client for t that authenticates with apiKey (none
// when empty). hc may be nil. Redirects are not followed: a probe reports
// them.
func NewClient(t Target, apiKey string, hc *http.Client) (*Client, error) {
	u, err := ParseURL(t.URL)
	if err != nil {
		return nil, err
	}
	if (t.HeaderName == "") != (t.HeaderValue == "") {
		return nil, errors.New("routing header needs both a name and a value")
	}
	if hc == nil {
		hc = &http.Client{}
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		base: u, headerName: t.HeaderName, headerValue: t.HeaderValue, apiKey: apiKey, http: &c,
		Timeout: 30 * time.Second, Prompt: "Reply with one short word.", now: time.Now,
	}, nil
}

// URL returns the base URL (it carries no secret).
func (c *Client) URL() string { return c.base.String() }

// scrub removes the API key from text that came from the relay.
func (c *Client) scrub(s string) string {
	if c.apiKey != "" {
		s = strings.ReplaceAll(s, c.apiKey, "[REDACTED]")
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func (c *Client) request(ctx context.Context, method, path string, body []byte, auth bool) (*http.Request, error) {
	u := c.base.JoinPath(path)
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "relayshift-probe/1")
	if c.headerName != "" {
		if strings.EqualFold(c.headerName, "Host") {
			req.Host = c.headerValue
		} else {
			req.Header.Set(c.headerName, c.headerValue)
		}
	}
	if auth && c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	return req, nil
}

// transportFailure classifies an error from Do or from reading a body.
func (c *Client) transportFailure(ctx context.Context, op string, err error) *Failure {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, errRequestTimeout) {
			return &Failure{Class: Timeout, Detail: fmt.Sprintf("%s: stopped before an answer (%v)", op, cause)}
		}
		return &Failure{Class: Timeout, Detail: fmt.Sprintf("%s: no answer within %s", op, c.Timeout)}
	}
	// *url.Error repeats the URL, which carries no secret; keep the
	// innermost cause short.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Failure{Class: Connection, Detail: op + ": connection closed before the answer was complete (" + err.Error() + ")"}
	}
	return &Failure{Class: Connection, Detail: c.scrub(op + ": " + err.Error())}
}

// statusFailure classifies a non-200 response, quoting the relay's error
// message if it sent one in OpenAI's shape.
func (c *Client) statusFailure(resp *http.Response) *Failure {
	f := &Failure{Status: resp.StatusCode}
	switch s := resp.StatusCode; {
	case s == 401 || s == 403:
		f.Class = Auth
	case s == 429:
		f.Class = RateLimited
	case s >= 400 && s < 500:
		f.Class = ClientError
	case s >= 500:
		f.Class = ServerError
	default:
		f.Class = BadSchema
	}
	f.Detail = fmt.Sprintf("HTTP %d", resp.StatusCode)
	if loc := resp.Header.Get("Location"); loc != "" {
		f.Detail += " redirect to " + c.scrub(loc)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		f.Detail += ": " + c.scrub(e.Error.Message)
	}
	return f
}

// Get sends GET path (no API key) and returns the status. A transport
// failure is a *Failure (timeout or connection).
func (c *Client) Get(ctx context.Context, path string) (int, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.Timeout, errRequestTimeout)
	defer cancel()
	req, err := c.request(ctx, http.MethodGet, path, nil, false)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, c.transportFailure(ctx, "GET "+path, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Models lists the model ids of GET /v1/models. Errors are *Failure.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.Timeout, errRequestTimeout)
	defer cancel()
	req, err := c.request(ctx, http.MethodGet, "/v1/models", nil, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportFailure(ctx, "GET /v1/models", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusFailure(resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, c.transportFailure(ctx, "GET /v1/models", err)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &list); err != nil || list.Data == nil {
		return nil, &Failure{Class: BadSchema, Status: resp.StatusCode, Detail: "GET /v1/models: body is not a model list ({\"object\":\"list\",\"data\":[...]})"}
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	return ids, nil
}

// Result is the outcome of one chat completion probe.
type Result struct {
	Model  string
	Stream bool
	Status int
	// Latency is the time from sending the request to the end of the
	// response (the final event of a stream).
	Latency time.Duration
	// TTFT is the time to the first content token (streams only).
	TTFT time.Duration
	// Class is OK on success; Detail says why otherwise.
	Class  Class
	Detail string
}

func (r *Result) fail(f *Failure) Result {
	r.Class, r.Detail = f.Class, f.Detail
	if f.Status != 0 {
		r.Status = f.Status
	}
	return *r
}

func (c *Client) chatBody(model string, maxTokens int, stream bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"model":      model,
		"messages":   []map[string]string{{"role": "user", "content": c.Prompt}},
		"max_tokens": maxTokens,
		"stream":     stream,
	})
	return b
}

// Chat sends one non-streamed chat completion and checks the answer: HTTP
// 200 and the chat.completion shape (id, choices[0].message.content not
// empty, usage).
func (c *Client) Chat(ctx context.Context, model string, maxTokens int) Result {
	res := Result{Model: model}
	ctx, cancel := context.WithTimeoutCause(ctx, c.Timeout, errRequestTimeout)
	defer cancel()
	req, err := c.request(ctx, http.MethodPost, "/v1/chat/completions", c.chatBody(model, maxTokens, false), true)
	if err != nil {
		return res.fail(&Failure{Class: Connection, Detail: err.Error()})
	}
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		return res.fail(c.transportFailure(ctx, "chat completion", err))
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		res.Latency = c.now().Sub(start)
		return res.fail(c.statusFailure(resp))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	res.Latency = c.now().Sub(start)
	if err != nil {
		return res.fail(c.transportFailure(ctx, "chat completion body", err))
	}
	if f := checkCompletion(b); f != nil {
		return res.fail(f)
	}
	return res
}

func checkCompletion(b []byte) *Failure {
	var cc struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Choices []struct {
			Message *struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage *struct {
			TotalTokens *int `json:"total_tokens"`
		} `json:"usage"`
	}
	bad := func(format string, args ...any) *Failure {
		return &Failure{Class: BadSchema, Status: 200, Detail: fmt.Sprintf(format, args...)}
	}
	if err := json.Unmarshal(b, &cc); err != nil {
		return bad("body is not a JSON object")
	}
	switch {
	case cc.Object != "chat.completion":
		return bad("object is %q, want chat.completion", cc.Object)
	case cc.ID == "":
		return bad("no id")
	case len(cc.Choices) == 0:
		return bad("no choices")
	case cc.Choices[0].Message == nil:
		return bad("choices[0] has no message")
	case cc.Choices[0].Message.Content == nil || *cc.Choices[0].Message.Content == "":
		return bad("choices[0].message.content is empty")
	case cc.Usage == nil || cc.Usage.TotalTokens == nil:
		return bad("no usage.total_tokens")
	}
	return nil
}

// Stream sends one streamed chat completion and checks the server-sent
// events: Content-Type text/event-stream, "data:" events each holding a
// chat.completion.chunk, some content, and a final "data: [DONE]". TTFT
// is the time to the first non-empty delta.content.
func (c *Client) Stream(ctx context.Context, model string, maxTokens int) Result {
	res := Result{Model: model, Stream: true}
	ctx, cancel := context.WithTimeoutCause(ctx, c.Timeout, errRequestTimeout)
	defer cancel()
	req, err := c.request(ctx, http.MethodPost, "/v1/chat/completions", c.chatBody(model, maxTokens, true), true)
	if err != nil {
		return res.fail(&Failure{Class: Connection, Detail: err.Error()})
	}
	req.Header.Set("Accept", "text/event-stream")
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		return res.fail(c.transportFailure(ctx, "stream", err))
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		res.Latency = c.now().Sub(start)
		return res.fail(c.statusFailure(resp))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		res.Latency = c.now().Sub(start)
		return res.fail(&Failure{Class: BadSSE, Detail: fmt.Sprintf("Content-Type is %q, want text/event-stream", ct)})
	}
	var first time.Time
	f := readStream(io.LimitReader(resp.Body, 16<<20), func() {
		if first.IsZero() {
			first = c.now()
		}
	})
	res.Latency = c.now().Sub(start)
	if !first.IsZero() {
		res.TTFT = first.Sub(start)
	}
	if f != nil {
		if f.Class == Connection {
			return res.fail(c.transportFailure(ctx, "stream", f.err))
		}
		f.Detail = c.scrub(f.Detail)
		return res.fail(f)
	}
	return res
}
