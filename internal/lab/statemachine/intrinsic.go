package statemachine

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// An intrinsic is a parsed intrinsic function invocation, e.g.
// States.Format('step {} failed', $.shift.next).
type intrinsic struct {
	name string
	args []intrinsicArg
}

type intrinsicArg struct {
	literal any        // a string, json.Number, bool or nil literal
	isLit   bool       //
	format  []string   // for a string literal: its pieces around unescaped {} placeholders
	path    *refPath   // a $ or $$ path
	call    *intrinsic // a nested invocation
}

// intrinsicFuncs are the intrinsic functions the lab evaluates, with their
// argument count (-1: any).
// NOTE: AWS has more (States.Hash, States.Base64Encode, States.ArrayPartition,
// States.MathRandom, States.StringSplit...); the lab supports those the
// project can use and refuses the others at load.
var intrinsicFuncs = map[string][2]int{
	"States.Format":        {1, -1},
	"States.StringToJson":  {1, 1},
	"States.JsonToString":  {1, 1},
	"States.Array":         {0, -1},
	"States.ArrayLength":   {1, 1},
	"States.ArrayGetItem":  {2, 2},
	"States.ArrayContains": {2, 2},
	"States.MathAdd":       {2, 2},
	"States.UUID":          {0, 0},
}

// isIntrinsic reports whether s looks like an intrinsic invocation (as
// opposed to a path).
func isIntrinsic(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "States.") }

// parseIntrinsic parses an intrinsic function invocation.
func parseIntrinsic(s string) (*intrinsic, error) {
	p := &intrinsicParser{src: s}
	call, err := p.call(0)
	if err != nil {
		return nil, fmt.Errorf("intrinsic function %q: %w", s, err)
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("intrinsic function %q: unexpected %q after the invocation", s, p.src[p.pos:])
	}
	return call, nil
}

type intrinsicParser struct {
	src string
	pos int
}

func (p *intrinsicParser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n') {
		p.pos++
	}
}

// NOTE: "You can nest up to 10 intrinsic functions within a field"
// (developer guide, Intrinsic functions).
const maxIntrinsicDepth = 10

func (p *intrinsicParser) call(depth int) (*intrinsic, error) {
	if depth >= maxIntrinsicDepth {
		return nil, fmt.Errorf("more than %d nested intrinsic functions", maxIntrinsicDepth)
	}
	p.space()
	open := strings.IndexByte(p.src[p.pos:], '(')
	if open < 0 {
		return nil, fmt.Errorf("missing (")
	}
	name := strings.TrimSpace(p.src[p.pos : p.pos+open])
	arity, ok := intrinsicFuncs[name]
	if !ok {
		return nil, fmt.Errorf("the intrinsic function %s is not supported by the lab's engine", name)
	}
	p.pos += open + 1
	c := &intrinsic{name: name}
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			a, err := p.arg(depth)
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.space()
			if p.pos >= len(p.src) {
				return nil, fmt.Errorf("missing )")
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			if p.src[p.pos] != ',' {
				return nil, fmt.Errorf("expected , or ) at %q", p.src[p.pos:])
			}
			p.pos++
		}
	}
	if len(c.args) < arity[0] || (arity[1] >= 0 && len(c.args) > arity[1]) {
		return nil, fmt.Errorf("%s takes %s, got %d", name, arityText(arity), len(c.args))
	}
	if name == "States.JsonToString" && c.args[0].path == nil {
		return nil, fmt.Errorf("States.JsonToString takes a path")
	}
	return c, nil
}

func arityText(a [2]int) string {
	switch {
	case a[1] < 0:
		return fmt.Sprintf("at least %d arguments", a[0])
	case a[0] == a[1]:
		return fmt.Sprintf("%d arguments", a[0])
	}
	return fmt.Sprintf("%d to %d arguments", a[0], a[1])
}

func (p *intrinsicParser) arg(depth int) (intrinsicArg, error) {
	p.space()
	if p.pos >= len(p.src) {
		return intrinsicArg{}, fmt.Errorf("missing argument")
	}
	rest := p.src[p.pos:]
	switch {
	case rest[0] == '\'':
		return p.stringLiteral()
	case rest[0] == '$':
		end, depthB := 0, 0
		var quote byte
	scan:
		for ; end < len(rest); end++ {
			ch := rest[end]
			switch {
			case quote != 0:
				if ch == quote {
					quote = 0
				}
			case ch == '\'' || ch == '"':
				quote = ch
			case ch == '[':
				depthB++
			case ch == ']':
				depthB--
			case depthB == 0 && (ch == ',' || ch == ')' || ch == ' '):
				break scan
			}
		}
		path, err := parsePath(rest[:end], true)
		if err != nil {
			return intrinsicArg{}, err
		}
		p.pos += end
		return intrinsicArg{path: &path}, nil
	case strings.HasPrefix(rest, "States."):
		c, err := p.call(depth + 1)
		if err != nil {
			return intrinsicArg{}, err
		}
		return intrinsicArg{call: c}, nil
	}
	end := strings.IndexAny(rest, ",) ")
	if end < 0 {
		end = len(rest)
	}
	tok := rest[:end]
	p.pos += end
	switch tok {
	case "true":
		return intrinsicArg{literal: true, isLit: true}, nil
	case "false":
		return intrinsicArg{literal: false, isLit: true}, nil
	case "null":
		return intrinsicArg{literal: nil, isLit: true}, nil
	}
	var n json.Number
	if err := json.Unmarshal([]byte(tok), &n); err != nil {
		return intrinsicArg{}, fmt.Errorf("argument %q is neither a string, a number, a boolean, null, a path nor an intrinsic function", tok)
	}
	return intrinsicArg{literal: n, isLit: true}, nil
}

// stringLiteral parses a quoted literal.
// NOTE: "The following characters are reserved for intrinsic functions, and
// must be escaped with a backslash: ' { } and \ ... If an open escape
// backslash is found in the intrinsic invocation string, the interpreter
// will throw a runtime error" (developer guide, Intrinsic functions). The
// lab refuses it at load.
func (p *intrinsicParser) stringLiteral() (intrinsicArg, error) {
	p.pos++ // opening quote
	var value, piece strings.Builder
	var pieces []string
	for {
		if p.pos >= len(p.src) {
			return intrinsicArg{}, fmt.Errorf("unterminated string literal")
		}
		ch := p.src[p.pos]
		switch ch {
		case '\\':
			if p.pos+1 >= len(p.src) || !strings.ContainsRune(`'{}\`, rune(p.src[p.pos+1])) {
				return intrinsicArg{}, fmt.Errorf("open escape backslash in a string literal")
			}
			value.WriteByte(p.src[p.pos+1])
			piece.WriteByte(p.src[p.pos+1])
			p.pos += 2
		case '\'':
			p.pos++
			pieces = append(pieces, piece.String())
			return intrinsicArg{literal: value.String(), isLit: true, format: pieces}, nil
		case '{':
			if p.pos+1 >= len(p.src) || p.src[p.pos+1] != '}' {
				return intrinsicArg{}, fmt.Errorf("unescaped { in a string literal")
			}
			value.WriteString("{}")
			pieces = append(pieces, piece.String())
			piece.Reset()
			p.pos += 2
		case '}':
			return intrinsicArg{}, fmt.Errorf("unescaped } in a string literal")
		default:
			value.WriteByte(ch)
			piece.WriteByte(ch)
			p.pos++
		}
	}
}

// eval evaluates the invocation against the state data and the context
// object. Its errors are runtime errors of the state.
func (c *intrinsic) eval(data, ctxObj any) (any, error) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		switch {
		case a.isLit:
			args[i] = a.literal
		case a.path != nil:
			root := data
			if a.path.context {
				root = ctxObj
			}
			v, ok := a.path.get(root)
			if !ok {
				return nil, fmt.Errorf("%s: the JSONPath %s could not be found in the input", c.name, a.path)
			}
			args[i] = v
		default:
			v, err := a.call.eval(data, ctxObj)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
	}
	switch c.name {
	case "States.Format":
		return c.format(args)
	case "States.StringToJson":
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("States.StringToJson: the argument is a %s, not a string", typeName(args[0]))
		}
		v, err := decodeJSON([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("States.StringToJson: %v", err)
		}
		return v, nil
	case "States.JsonToString":
		return encodeJSON(args[0]), nil
	case "States.Array":
		return args, nil
	case "States.ArrayLength":
		a, ok := args[0].([]any)
		if !ok {
			return nil, fmt.Errorf("States.ArrayLength: the argument is a %s, not an array", typeName(args[0]))
		}
		return intValue(int64(len(a))), nil
	case "States.ArrayGetItem":
		a, ok := args[0].([]any)
		i, okI := integer(args[1])
		if !ok || !okI {
			return nil, fmt.Errorf("States.ArrayGetItem takes an array and an integer index")
		}
		if i < 0 || i >= int64(len(a)) {
			return nil, fmt.Errorf("States.ArrayGetItem: index %d is out of range for an array of %d", i, len(a))
		}
		return a[i], nil
	case "States.ArrayContains":
		a, ok := args[0].([]any)
		if !ok {
			return nil, fmt.Errorf("States.ArrayContains: the first argument is a %s, not an array", typeName(args[0]))
		}
		return slices.ContainsFunc(a, func(e any) bool { return jsonEqual(e, args[1]) }), nil
	case "States.MathAdd":
		// NOTE: States.MathAdd takes integers (developer guide, Intrinsics
		// for Math operations); the lab refuses other numbers.
		x, okX := integer(args[0])
		y, okY := integer(args[1])
		if !okX || !okY {
			return nil, fmt.Errorf("States.MathAdd takes two integers, got %s and %s", encodeJSON(args[0]), encodeJSON(args[1]))
		}
		if (y > 0 && x > math.MaxInt64-y) || (y < 0 && x < math.MinInt64-y) {
			return nil, fmt.Errorf("States.MathAdd: overflow")
		}
		return intValue(x + y), nil
	case "States.UUID":
		return newUUID(), nil
	}
	return nil, fmt.Errorf("intrinsic function %s is not supported", c.name)
}

func (c *intrinsic) format(args []any) (any, error) {
	var pieces []string
	if c.args[0].isLit {
		s, ok := c.args[0].literal.(string)
		if !ok {
			return nil, fmt.Errorf("States.Format: the template is not a string")
		}
		_ = s
		pieces = c.args[0].format
	} else {
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("States.Format: the template is a %s, not a string", typeName(args[0]))
		}
		pieces = strings.Split(s, "{}")
	}
	if len(pieces)-1 != len(args)-1 {
		return nil, fmt.Errorf("States.Format: the template has %d placeholders but %d values were given", len(pieces)-1, len(args)-1)
	}
	var b strings.Builder
	for i, piece := range pieces {
		b.WriteString(piece)
		if i == len(pieces)-1 {
			break
		}
		switch v := args[i+1].(type) {
		case string:
			b.WriteString(v)
		case json.Number, bool, nil:
			b.WriteString(encodeJSON(v))
		default:
			// NOTE: the ASL specification lets States.Format interpolate
			// strings, numbers, booleans and null only.
			return nil, fmt.Errorf("States.Format: argument %d is a %s; only strings, numbers, booleans and null can be formatted", i+2, typeName(v))
		}
	}
	return b.String(), nil
}

// jsonEqual compares two JSON values, numbers by value.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		fx, okx := number(x)
		fy, oky := number(b)
		return okx && oky && fx == fy
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, jsonEqual)
	}
	return a == b
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
