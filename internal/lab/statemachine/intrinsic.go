package statemachine

import (
	"encoding/json"
	"fmt"
	"strings"
)

// intrinsicCall is an intrinsic function invocation as written, e.g.
// States.Format('step {} failed', $.shift.next): any States.* name, any
// argument kind. scanIntrinsic reads the syntax; compileIntrinsic keeps
// what the engine evaluates.
type intrinsicCall struct {
	name string
	args []intrinsicToken
}

type intrinsicToken struct {
	kind   string         // "string literal", "number literal", "boolean literal", "null literal"; "" for a path or a call
	text   string         // a string literal's value
	pieces []string       // a string literal's text around its unescaped {} placeholders
	path   string         // a $ or $$ path
	call   *intrinsicCall // a nested invocation
}

// isIntrinsic reports whether s looks like an intrinsic invocation (as
// opposed to a path).
func isIntrinsic(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "States.") }

// scanIntrinsic parses the syntax of an intrinsic function invocation.
func scanIntrinsic(s string) (*intrinsicCall, error) {
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

func (p *intrinsicParser) call(depth int) (*intrinsicCall, error) {
	if depth >= maxIntrinsicDepth {
		return nil, fmt.Errorf("more than %d nested intrinsic functions", maxIntrinsicDepth)
	}
	p.space()
	open := strings.IndexByte(p.src[p.pos:], '(')
	if open < 0 {
		return nil, fmt.Errorf("missing (")
	}
	c := &intrinsicCall{name: strings.TrimSpace(p.src[p.pos : p.pos+open])}
	p.pos += open + 1
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		return c, nil
	}
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
			return c, nil
		}
		if p.src[p.pos] != ',' {
			return nil, fmt.Errorf("expected , or ) at %q", p.src[p.pos:])
		}
		p.pos++
	}
}

func (p *intrinsicParser) arg(depth int) (intrinsicToken, error) {
	p.space()
	if p.pos >= len(p.src) {
		return intrinsicToken{}, fmt.Errorf("missing argument")
	}
	rest := p.src[p.pos:]
	switch {
	case rest[0] == '\'':
		return p.stringLiteral()
	case rest[0] == '$':
		end := strings.IndexAny(rest, ", )")
		if end < 0 {
			end = len(rest)
		}
		p.pos += end
		return intrinsicToken{path: rest[:end]}, nil
	case strings.HasPrefix(rest, "States."):
		c, err := p.call(depth + 1)
		if err != nil {
			return intrinsicToken{}, err
		}
		return intrinsicToken{call: c}, nil
	}
	end := strings.IndexAny(rest, ",) ")
	if end < 0 {
		end = len(rest)
	}
	tok := rest[:end]
	p.pos += end
	switch tok {
	case "true", "false":
		return intrinsicToken{kind: "boolean literal"}, nil
	case "null":
		return intrinsicToken{kind: "null literal"}, nil
	}
	var n json.Number
	if err := json.Unmarshal([]byte(tok), &n); err != nil {
		return intrinsicToken{}, fmt.Errorf("argument %q is neither a string, a number, a boolean, null, a path nor an intrinsic function", tok)
	}
	return intrinsicToken{kind: "number literal"}, nil
}

// stringLiteral parses a quoted literal.
// NOTE: "The following characters are reserved for intrinsic functions, and
// must be escaped with a backslash: ' { } and \ ... If an open escape
// backslash is found in the intrinsic invocation string, the interpreter
// will throw a runtime error" (developer guide, Intrinsic functions). The
// lab refuses it at load.
func (p *intrinsicParser) stringLiteral() (intrinsicToken, error) {
	p.pos++ // opening quote
	var value, piece strings.Builder
	var pieces []string
	for {
		if p.pos >= len(p.src) {
			return intrinsicToken{}, fmt.Errorf("unterminated string literal")
		}
		ch := p.src[p.pos]
		switch ch {
		case '\\':
			if p.pos+1 >= len(p.src) || !strings.ContainsRune(`'{}\`, rune(p.src[p.pos+1])) {
				return intrinsicToken{}, fmt.Errorf("open escape backslash in a string literal")
			}
			value.WriteByte(p.src[p.pos+1])
			piece.WriteByte(p.src[p.pos+1])
			p.pos += 2
		case '\'':
			p.pos++
			pieces = append(pieces, piece.String())
			return intrinsicToken{kind: "string literal", text: value.String(), pieces: pieces}, nil
		case '{':
			if p.pos+1 >= len(p.src) || p.src[p.pos+1] != '}' {
				return intrinsicToken{}, fmt.Errorf("unescaped { in a string literal")
			}
			value.WriteString("{}")
			pieces = append(pieces, piece.String())
			piece.Reset()
			p.pos += 2
		case '}':
			return intrinsicToken{}, fmt.Errorf("unescaped } in a string literal")
		default:
			value.WriteByte(ch)
			piece.WriteByte(ch)
			p.pos++
		}
	}
}

// intrinsic is a compiled invocation of one of the two intrinsic functions
// the engine evaluates:
//   - States.Format(template, values...): the template a string literal,
//     each value a path or an intrinsic function;
//   - States.JsonToString(path).
type intrinsic struct {
	name   string
	pieces []string // States.Format: the template around its placeholders
	args   []intrinsicArg
}

type intrinsicArg struct {
	path *refPath
	call *intrinsic
}

// parseIntrinsic parses and compiles an intrinsic invocation. Load has
// already refused the functions and argument kinds the engine does not
// implement (features.go).
func parseIntrinsic(s string) (*intrinsic, error) {
	c, err := scanIntrinsic(s)
	if err != nil {
		return nil, err
	}
	out, err := compileIntrinsic(c)
	if err != nil {
		return nil, fmt.Errorf("intrinsic function %q: %w", s, err)
	}
	return out, nil
}

func compileIntrinsic(c *intrinsicCall) (*intrinsic, error) {
	out := &intrinsic{name: c.name}
	args := c.args
	switch c.name {
	case "States.Format":
		if len(args) == 0 || args[0].kind != "string literal" {
			return nil, fmt.Errorf("States.Format takes a string literal template first")
		}
		out.pieces, args = args[0].pieces, args[1:]
		if len(out.pieces)-1 != len(args) {
			return nil, fmt.Errorf("States.Format: the template has %d placeholders but %d values were given", len(out.pieces)-1, len(args))
		}
	case "States.JsonToString":
		if len(args) != 1 || args[0].path == "" {
			return nil, fmt.Errorf("States.JsonToString takes a path")
		}
	default:
		return nil, fmt.Errorf("the intrinsic function %s is not supported by the lab's engine", c.name)
	}
	for _, a := range args {
		switch {
		case a.path != "":
			p, err := parsePath(a.path, true)
			if err != nil {
				return nil, err
			}
			out.args = append(out.args, intrinsicArg{path: &p})
		case a.call != nil:
			sub, err := compileIntrinsic(a.call)
			if err != nil {
				return nil, err
			}
			out.args = append(out.args, intrinsicArg{call: sub})
		default:
			return nil, fmt.Errorf("%s: a %s is not a value the lab's engine formats (only paths and intrinsic functions)", c.name, a.kind)
		}
	}
	return out, nil
}

// eval evaluates the invocation against the state data and the context
// object. Its errors are runtime errors of the state.
func (c *intrinsic) eval(data, ctxObj any) (any, error) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		if a.call != nil {
			v, err := a.call.eval(data, ctxObj)
			if err != nil {
				return nil, err
			}
			args[i] = v
			continue
		}
		root := data
		if a.path.context {
			root = ctxObj
		}
		v, ok := a.path.get(root)
		if !ok {
			return nil, fmt.Errorf("%s: the JSONPath %s could not be found in the input", c.name, a.path)
		}
		args[i] = v
	}
	if c.name == "States.JsonToString" {
		return encodeJSON(args[0]), nil
	}
	var b strings.Builder
	for i, piece := range c.pieces {
		b.WriteString(piece)
		if i == len(c.pieces)-1 {
			break
		}
		switch v := args[i].(type) {
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
