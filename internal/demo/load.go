package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/relayshift/relayshift/internal/loadgen"
)

// load is the production traffic: chat completions at a steady rate, one
// in streamEvery streamed, each kind its own bounded loadgen run.
type load struct {
	runs []*loadgen.Run
}

// startLoad starts rate requests per second on url for at most d.
func startLoad(ctx context.Context, url, apiKey, colourHeader string, rate float64, streamEvery int, d time.Duration) (*load, error) {
	type kind struct {
		model  string
		stream bool
		rate   float64
	}
	kinds := []kind{{"sim-small", false, rate}}
	if streamEvery > 0 {
		share := rate / float64(streamEvery)
		kinds = []kind{{"sim-small", false, rate - share}, {"sim-large", true, share}}
	}
	l := &load{}
	for _, k := range kinds {
		body, err := json.Marshal(map[string]any{
			"model": k.model, "stream": k.stream, "max_tokens": 8,
			"messages": []map[string]string{{"role": "user", "content": "Say hello to the demo."}},
		})
		if err != nil {
			return nil, err
		}
		r, err := loadgen.Start(ctx, loadgen.Config{
			URL: url + "/v1/chat/completions",
			Request: loadgen.Request{Method: http.MethodPost, Body: body,
				Header: http.Header{"Authorization": {"Bearer " + apiKey}, "Content-Type": {"application/json"}}},
			Rate: k.rate, Concurrency: 64, MaxRequests: int(k.rate*d.Seconds()) + 1, MaxDuration: d,
			Timeout: 5 * time.Second, ColourHeader: colourHeader,
		})
		if err != nil {
			l.stop()
			return nil, fmt.Errorf("load: %w", err)
		}
		l.runs = append(l.runs, r)
	}
	return l, nil
}

// outcomes returns every outcome so far, oldest request first.
func (l *load) outcomes() []loadgen.Outcome {
	var out []loadgen.Outcome
	for _, r := range l.runs {
		out = append(out, r.Outcomes()...)
	}
	slices.SortFunc(out, func(a, b loadgen.Outcome) int { return a.At.Compare(b.At) })
	return out
}

// skipped counts requests not sent because too many were in flight.
func (l *load) skipped() int {
	n := 0
	for _, r := range l.runs {
		n += r.Skipped()
	}
	return n
}

// stop ends the load and waits for requests in flight.
func (l *load) stop() {
	for _, r := range l.runs {
		r.Stop()
	}
}
