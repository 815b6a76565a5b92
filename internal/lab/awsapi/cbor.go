package awsapi

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// decodeCBOR decodes an rpcv2-CBOR request body into v, a struct whose
// json tags name the Smithy members. The CBOR value is turned into the
// equivalent JSON document first (timestamps, tag 1, become RFC 3339
// strings), so the usual json decoding rules apply. An empty body is an
// empty structure.
func decodeCBOR(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	cv, err := cbor.Decode(body)
	if err != nil {
		return fmt.Errorf("malformed CBOR body: %w", err)
	}
	tree, err := cborToAny(cv)
	if err != nil {
		return err
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func cborToAny(v cbor.Value) (any, error) {
	switch x := v.(type) {
	case cbor.Uint:
		return uint64(x), nil
	case cbor.NegInt:
		return -1 - int64(x), nil
	case cbor.Float32:
		return float64(x), nil
	case cbor.Float64:
		return float64(x), nil
	case cbor.String:
		return string(x), nil
	case cbor.Slice:
		return []byte(x), nil
	case cbor.Bool:
		return bool(x), nil
	case *cbor.Nil, *cbor.Undefined:
		return nil, nil
	case cbor.List:
		out := make([]any, 0, len(x))
		for _, e := range x {
			a, err := cborToAny(e)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	case cbor.Map:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if _, isNil := e.(*cbor.Nil); isNil {
				continue // a null member is an absent member
			}
			a, err := cborToAny(e)
			if err != nil {
				return nil, err
			}
			out[k] = a
		}
		return out, nil
	case *cbor.Tag:
		if x.ID != 1 {
			return nil, fmt.Errorf("unsupported CBOR tag %d", x.ID)
		}
		t, err := cbor.AsTime(x)
		if err != nil {
			return nil, err
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("unsupported CBOR value %T", v)
}

var timeType = reflect.TypeFor[time.Time]()

// encodeCBOR encodes v (structs with json tags naming the Smithy members)
// as rpcv2-CBOR: time.Time as tag 1 with epoch seconds (float64), nil
// pointers and omitempty zero values left out.
func encodeCBOR(v any) []byte {
	cv := toCBOR(reflect.ValueOf(v))
	if cv == nil {
		cv = cbor.Map{}
	}
	return cbor.Encode(cv)
}

func toCBOR(v reflect.Value) cbor.Value {
	if !v.IsValid() {
		return nil
	}
	if v.Type() == timeType {
		t := v.Interface().(time.Time)
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.UnixMilli()) / 1e3)}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return toCBOR(v.Elem())
	case reflect.String:
		return cbor.String(v.String())
	case reflect.Bool:
		return cbor.Bool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if i := v.Int(); i < 0 {
			return cbor.NegInt(uint64(-(i + 1)))
		} else {
			return cbor.Uint(uint64(i))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cbor.Uint(v.Uint())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return cbor.Float64(f)
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return cbor.Slice(v.Bytes())
		}
		out := make(cbor.List, 0, v.Len())
		for i := range v.Len() {
			if e := toCBOR(v.Index(i)); e != nil {
				out = append(out, e)
			}
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := cbor.Map{}
		for _, k := range v.MapKeys() {
			if e := toCBOR(v.MapIndex(k)); e != nil {
				out[k.String()] = e
			}
		}
		return out
	case reflect.Struct:
		out := cbor.Map{}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitempty") && fv.IsZero() {
				continue
			}
			if e := toCBOR(fv); e != nil {
				out[name] = e
			}
		}
		return out
	}
	return nil
}
