package relayprobe

import (
	"strings"
	"testing"
)

func TestReadStream(t *testing.T) {
	chunk := func(content string) string {
		return `{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"` + content + `"}}]}`
	}
	role := `{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`
	usage := `{"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"total_tokens":3}}`
	for _, tc := range []struct {
		name   string
		stream string
		tokens int
		class  Class
		detail string
	}{
		{"openai", "data: " + role + "\n\ndata: " + chunk("Hi") + "\n\ndata: " + chunk("!") + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n", 2, OK, ""},
		{"crlf, comments, event and id fields", ": keep-alive\r\n\r\nevent: message\r\nid: 1\r\ndata:" + chunk("Hi") + "\r\n\r\ndata: [DONE]\r\n\r\n", 1, OK, ""},
		{"done without final blank line", "data: " + chunk("Hi") + "\n\ndata: [DONE]\n", 1, BadSSE, "never ended by a blank line"},
		{"no done", "data: " + chunk("Hi") + "\n\n", 1, BadSSE, "stream ended without data: [DONE] after 1 events"},
		{"events not separated", "data: " + chunk("Hi") + "\ndata: " + chunk("!") + "\n\ndata: [DONE]\n\n", 0, BadSSE, "data is not one JSON object"},
		{"no data prefix", chunk("Hi") + "\n\ndata: [DONE]\n\n", 0, BadSSE, "is not a server-sent-event field"},
		{"error event", `data: {"error":{"message":"upstream overloaded"}}` + "\n\n", 0, BadSSE, "is an error: upstream overloaded"},
		{"wrong object", `data: {"object":"text_completion","choices":[{"text":"Hi"}]}` + "\n\ndata: [DONE]\n\n", 0, BadSchema, `object is "text_completion"`},
		{"no delta", `data: {"object":"chat.completion.chunk","choices":[{"text":"Hi"}]}` + "\n\ndata: [DONE]\n\n", 0, BadSchema, "has no delta"},
		{"no content", "data: " + role + "\n\ndata: [DONE]\n\n", 0, BadSchema, "carried no content"},
		{"empty body", "", 0, BadSSE, "without data: [DONE] after 0 events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := 0
			f := readStream(strings.NewReader(tc.stream), func() { tokens++ })
			var class Class
			detail := ""
			if f != nil {
				class, detail = f.Class, f.Detail
			}
			if class != tc.class || !strings.Contains(detail, tc.detail) {
				t.Fatalf("got %q %q, want %q containing %q", class, detail, tc.class, tc.detail)
			}
			if tokens != tc.tokens {
				t.Errorf("%d tokens seen, want %d", tokens, tc.tokens)
			}
		})
	}
}

func TestCheckCompletion(t *testing.T) {
	for _, tc := range []struct {
		name, body, detail string
	}{
		{"valid", `{"id":"c1","object":"chat.completion","choices":[{"message":{"role":"assistant","content":"ok"}}],"usage":{"total_tokens":2}}`, ""},
		{"not JSON", `<html>`, "not a JSON object"},
		{"no id", `{"object":"chat.completion","choices":[{"message":{"content":"ok"}}],"usage":{"total_tokens":2}}`, "no id"},
		{"no choices", `{"id":"c1","object":"chat.completion","choices":[],"usage":{"total_tokens":2}}`, "no choices"},
		{"empty content", `{"id":"c1","object":"chat.completion","choices":[{"message":{"content":""}}],"usage":{"total_tokens":2}}`, "content is empty"},
		{"null content", `{"id":"c1","object":"chat.completion","choices":[{"message":{"content":null}}],"usage":{"total_tokens":2}}`, "content is empty"},
		{"no usage", `{"id":"c1","object":"chat.completion","choices":[{"message":{"content":"ok"}}]}`, "no usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := checkCompletion([]byte(tc.body))
			if tc.detail == "" {
				if f != nil {
					t.Fatalf("unexpected failure %v", f)
				}
				return
			}
			if f == nil || f.Class != BadSchema || !strings.Contains(f.Detail, tc.detail) {
				t.Fatalf("got %v, want bad_schema %q", f, tc.detail)
			}
		})
	}
}

func TestParseHeaderAndURL(t *testing.T) {
	for _, tc := range []struct {
		in, name, value string
		ok              bool
	}{
		{"X-Relayshift-Route: candidate", "X-Relayshift-Route", "candidate", true},
		{"Host:test.relay.example.com", "Host", "test.relay.example.com", true},
		{"Authorization: Bearer x", "", "", false},
		{"X-Route", "", "", false},
		{"Bad Name: v", "", "", false},
		{"X-Route: ", "", "", false},
	} {
		n, v, err := ParseHeader(tc.in)
		if (err == nil) != tc.ok || n != tc.name || v != tc.value {
			t.Errorf("ParseHeader(%q) = %q, %q, %v", tc.in, n, v, err)
		}
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"https://test.relay.example.com:8443", true},
		{"http://127.0.0.1:9000/prefix", true},
		{"ftp://x", false},
		{"https://user:secret@relay.example.com", false},
		{"https://relay.example.com/?a=1", false},
		{"/relative", false},
	} {
		_, err := ParseURL(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) error repeats the credentials: %v", tc.in, err)
		}
	}
}
