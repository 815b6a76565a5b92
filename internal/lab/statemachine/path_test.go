package statemachine

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func decodeT(t *testing.T, s string) any {
	t.Helper()
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		path    string
		context bool
		wantErr string
	}{
		{path: "$"},
		{path: "$.foo"},
		{path: "$.car.cdr"},
		{path: "$.a-b_c"},
		{path: "$$.Execution.Id", context: true},
		{path: "$$.Execution.Id", wantErr: "context object"},
		{path: "foo", wantErr: "does not start with $"},
		{path: "$..foo", wantErr: "deep-scan"},
		{path: "$.a[0]", wantErr: `operator "["`},
		{path: "$.a.*", wantErr: `operator "*"`},
		{path: "$.a.length()", wantErr: `operator "("`},
		{path: "$.", wantErr: "empty field name"},
		{path: "$a", wantErr: "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			_, err := parsePath(tc.path, tc.context)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parsePath(%q): %v", tc.path, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parsePath(%q) = %v, want an error containing %q", tc.path, err, tc.wantErr)
			}
		})
	}
}

// TestPathGet uses the example of the developer guide (Reference Paths).
func TestPathGet(t *testing.T) {
	input := decodeT(t, `{"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}}`)
	tests := []struct {
		path   string
		want   string
		absent bool
	}{
		{path: "$.foo", want: `123`},
		{path: "$.bar", want: `["a","b","c"]`},
		{path: "$.car.cdr", want: `true`},
		{path: "$", want: `{"bar":["a","b","c"],"car":{"cdr":true},"foo":123}`},
		{path: "$.nope", absent: true},
		{path: "$.foo.x", absent: true},
		{path: "$.bar.x", absent: true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			p, err := parsePath(tc.path, false)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := p.get(input)
			if ok == tc.absent {
				t.Fatalf("get(%s) present = %v, want %v", tc.path, ok, !tc.absent)
			}
			if ok && encodeJSON(v) != tc.want {
				t.Errorf("get(%s) = %s, want %s", tc.path, encodeJSON(v), tc.want)
			}
		})
	}
}

// TestPathSet follows the ResultPath examples of the developer guide
// (Replace / Include / Update a node).
func TestPathSet(t *testing.T) {
	input := `{"comment":"This is a test of the input and output of a Task state.","details":"Default example","who":"AWS Step Functions"}`
	nested := `{"comment":"An input comment.","strings":{"string1":"foo","string2":"bar","string3":"baz"},"who":"AWS Step Functions"}`
	result := `"Hello, AWS Step Functions!"`
	tests := []struct {
		name, input, path, want, wantErr string
	}{
		{name: "replace", input: input, path: "$", want: result},
		{name: "include", input: input, path: "$.taskresult",
			want: `{"comment":"This is a test of the input and output of a Task state.","details":"Default example","taskresult":"Hello, AWS Step Functions!","who":"AWS Step Functions"}`},
		{name: "include in a child", input: nested, path: "$.strings.lambdaresult",
			want: `{"comment":"An input comment.","strings":{"lambdaresult":"Hello, AWS Step Functions!","string1":"foo","string2":"bar","string3":"baz"},"who":"AWS Step Functions"}`},
		{name: "update a node", input: input, path: "$.comment",
			want: `{"comment":"Hello, AWS Step Functions!","details":"Default example","who":"AWS Step Functions"}`},
		{name: "creates missing objects", input: `{}`, path: "$.a.b.c", want: `{"a":{"b":{"c":"Hello, AWS Step Functions!"}}}`},
		{name: "crosses a string", input: input, path: "$.comment.x", wantErr: "crosses a string"},
		{name: "crosses an array", input: `{"a":[1]}`, path: "$.a.b", wantErr: "crosses a array"},
		{name: "input not an object", input: `"text"`, path: "$.x", wantErr: "crosses a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePath(tc.path, false)
			if err != nil {
				t.Fatal(err)
			}
			in := decodeT(t, tc.input)
			before := encodeJSON(in)
			got, err := p.set(in, decodeT(t, result))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("set = %v, want error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, encodeJSON(got)); diff != "" {
				t.Errorf("set (-want +got):\n%s", diff)
			}
			if encodeJSON(in) != before {
				t.Errorf("set modified its input: %s", encodeJSON(in))
			}
		})
	}
}
