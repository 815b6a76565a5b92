package scenario

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func table(t *testing.T) *Table {
	t.Helper()
	doc := `{
  "comment": ["test"],
  "execution": {"Id": "x", "Name": "x"},
  "tasks": {"A": "AFunction", "B": "BFunction"},
  "fixtures": {"ok": {"v": 1}},
  "scenarios": [{
    "name": "s",
    "input": {},
    "tasks": {
      "A": [{"throws": {"error": "E", "cause": "c"}}, {"fixture": "ok", "receives": {"step": 0}}],
      "B": [{"returns": {"v": 2}}]
    },
    "expect": {"states": ["A", "B", "Done"], "status": "SUCCEEDED", "output": {"b": {"v": 2}}}
  }]
}`
	path := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func id(s string) string { return s }

func good() Trace {
	return Trace{
		States: []string{"A", "B", "Done"}, Status: "SUCCEEDED", Output: json.RawMessage(`{"b":{"v":2},"extra":true}`),
		Calls: []TraceCall{
			{State: "A", Function: "AFunction", Payload: json.RawMessage(`{"step":1}`)},
			{State: "A", Function: "AFunction", Payload: json.RawMessage(`{"step":0,"more":1}`)},
			{State: "B", Function: "BFunction", Payload: json.RawMessage(`{}`)},
		},
	}
}

func TestCheck(t *testing.T) {
	tb := table(t)
	sc := tb.Scenarios[0]
	if diffs := tb.Check(sc, good(), id); len(diffs) != 0 {
		t.Fatalf("a matching trace was judged wrong: %v", diffs)
	}
	for _, tc := range []struct {
		name   string
		break_ func(*Trace)
		want   string
	}{
		{"states", func(tr *Trace) { tr.States = []string{"A", "Done"} }, "states entered"},
		{"status", func(tr *Trace) { tr.Status = "FAILED" }, "status"},
		{"output", func(tr *Trace) { tr.Output = json.RawMessage(`{"b":{"v":3}}`) }, "output: $.b.v"},
		{"missing call", func(tr *Trace) { tr.Calls = tr.Calls[:2] }, "B: 1 scripted call(s), 0 made"},
		{"extra call", func(tr *Trace) { tr.Calls = append(tr.Calls, TraceCall{State: "B", Function: "BFunction"}) }, "B: call 2 is not scripted"},
		{"wrong function", func(tr *Trace) { tr.Calls[2].Function = "AFunction" }, `B invoked "AFunction"`},
		{"payload", func(tr *Trace) { tr.Calls[1].Payload = json.RawMessage(`{"step":1}`) }, "A call 2 payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := good()
			tc.break_(&tr)
			diffs := tb.Check(sc, tr, id)
			if !strings.Contains(strings.Join(diffs, "\n"), tc.want) {
				t.Fatalf("diffs %q, want one containing %q", diffs, tc.want)
			}
		})
	}
}

func TestResolveExpandsFixtures(t *testing.T) {
	tb := table(t)
	r := tb.Resolve(map[string]string{"X": "arn"})
	got, err := json.Marshal(r.Scenarios[0].Tasks["A"])
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"throws":{"error":"E","cause":"c"}},{"returns":{"v":1}}]`; string(got) != want {
		t.Fatalf("resolved A = %s, want %s", got, want)
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", `{"scenarios":[],"bogus":1}`, "unknown field"},
		{"two answers", `{"tasks":{"A":"F"},"scenarios":[{"name":"s","tasks":{"A":[{"returns":1,"fixture":"x"}]},"expect":{"status":"FAILED"}}]}`, "exactly one of"},
		{"unknown state", `{"tasks":{},"scenarios":[{"name":"s","tasks":{"A":[{"returns":1}]},"expect":{"status":"FAILED"}}]}`, "not a Task state"},
		{"bad status", `{"scenarios":[{"name":"s","expect":{"status":"DONE"}}]}`, "expect.status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(path, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
