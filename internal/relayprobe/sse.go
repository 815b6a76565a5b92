package relayprobe

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// readStream reads an OpenAI-style server-sent-event stream from r until
// "data: [DONE]", calling onToken at each non-empty delta.content. It
// returns nil for a well-formed stream with content, or a Failure:
// BadSSE for broken framing (a line that is no SSE field, data that is not
// JSON, an error event, a stream that ends without [DONE]), BadSchema for a
// well-framed chunk of the wrong shape or a stream without content, and
// Connection when reading fails.
//
// Framing follows the HTML server-sent events format: lines end in LF or
// CRLF, an event is its "data:" lines joined by LF and ends at a blank line,
// lines starting with ":" are comments, and "event", "id" and "retry" fields
// are allowed and ignored. Any other line is a framing error: an
// OpenAI-compatible stream has no use for it.
func readStream(r io.Reader, onToken func()) *Failure {
	br := bufio.NewReaderSize(r, 64<<10)
	var data []string
	events, content := 0, false
	sse := func(format string, args ...any) *Failure {
		return &Failure{Class: BadSSE, Status: 200, Detail: fmt.Sprintf(format, args...)}
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return &Failure{Class: Connection, Detail: "reading the stream: " + err.Error(), err: err}
		}
		if errors.Is(err, io.EOF) && line == "" {
			if len(data) > 0 {
				return sse("stream ended without data: [DONE] (its last event, after %d complete events, was never ended by a blank line)", events)
			}
			return sse("stream ended without data: [DONE] after %d events", events)
		}
		if len(line) > 1<<20 {
			return sse("a line of the stream is longer than 1 MiB")
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if len(data) == 0 {
				continue
			}
			payload := strings.Join(data, "\n")
			data = data[:0]
			events++
			if payload == "[DONE]" {
				if !content {
					return &Failure{Class: BadSchema, Status: 200, Detail: fmt.Sprintf("stream of %d events carried no content", events-1)}
				}
				return nil
			}
			got, f := checkChunk(payload, events)
			if f != nil {
				return f
			}
			if got {
				content = true
				onToken()
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data = append(data, value)
		case "event", "id", "retry":
		default:
			return sse("event %d: line %q is not a server-sent-event field", events+1, clip(line, 60))
		}
	}
}

// checkChunk checks one event's data: a chat.completion.chunk. It reports
// whether the chunk carries content.
func checkChunk(payload string, n int) (bool, *Failure) {
	var chunk struct {
		Object  string          `json:"object"`
		Error   json.RawMessage `json:"error"`
		Choices []struct {
			Delta *struct {
				Content *string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(payload), &chunk); err != nil {
		return false, &Failure{Class: BadSSE, Status: 200, Detail: fmt.Sprintf("event %d: data is not one JSON object: %q", n, clip(payload, 60))}
	}
	if len(chunk.Error) > 0 && string(chunk.Error) != "null" {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(chunk.Error, &e)
		return false, &Failure{Class: BadSSE, Status: 200, Detail: fmt.Sprintf("event %d is an error: %s", n, clip(e.Message, 120))}
	}
	if chunk.Object != "chat.completion.chunk" {
		return false, &Failure{Class: BadSchema, Status: 200, Detail: fmt.Sprintf("event %d: object is %q, want chat.completion.chunk", n, chunk.Object)}
	}
	// NOTE: with stream_options.include_usage, OpenAI's last chunk has
	// empty choices and the usage; a chunk without choices is valid.
	for _, ch := range chunk.Choices {
		if ch.Delta == nil {
			return false, &Failure{Class: BadSchema, Status: 200, Detail: fmt.Sprintf("event %d: a choice has no delta", n)}
		}
	}
	return len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != nil && *chunk.Choices[0].Delta.Content != "", nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
