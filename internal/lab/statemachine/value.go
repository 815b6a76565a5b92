package statemachine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// The engine works on decoded JSON values: map[string]any, []any, string,
// json.Number, bool and nil. Numbers stay json.Number so that a value
// passes through the engine byte for byte (a Lambda's 0.1 is not turned into
// 0.1000000000000000055). Values are never mutated once decoded: every
// operation that changes one copies what it changes.

// decodeJSON decodes exactly one JSON value.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty JSON document")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// encodeJSON encodes v compactly, without HTML escaping (Step Functions
// shows "<" as "<", not "\u003c").
func encodeJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Values come from decodeJSON or from the engine itself; neither
		// produces something encoding/json refuses.
		panic(fmt.Sprintf("statemachine: encode JSON: %v", err))
	}
	return string(bytes.TrimRight(b.Bytes(), "\n"))
}

// typeName names the JSON type of v, for error causes.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// number returns v as a float64 when it is a JSON number.
// NOTE: Step Functions compares numbers as IEEE 754 binary64 ("don't assume
// that numeric comparisons work with values outside the magnitude or
// precision that binary64 represents", Choice state documentation).
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	if err != nil {
		return 0, false
	}
	return f, true
}

// integer returns v as an int64 when it is a JSON number with an integral
// value.
func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func intValue(i int64) json.Number { return json.Number(strconv.FormatInt(i, 10)) }
