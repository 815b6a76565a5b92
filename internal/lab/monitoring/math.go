package monitoring

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// The metric math the lab evaluates is what the project uses: the
// template's 5xx-rate alarms compute "100 * FILL(errors, 0) / requests"
// (internal/cwmetrics sends no expressions). So an expression is
// arithmetic (+ - * /, parentheses) over numbers, metric ids and
// FILL(series, number). Arithmetic is kept whole because it is one
// operator table with IEEE semantics; everything else CloudWatch offers
// (other operators, functions, FILL's REPEAT and LINEAR, arrays, strings)
// is refused when the expression is parsed — at PutMetricAlarm or
// GetMetricData — with CloudWatch's ValidationError shape, "Error in
// expression '<id>': ...", naming what is not supported.

// tseries is a time series on a grid of buckets, keyed by bucket start.
type tseries struct {
	period int // seconds, as the query states it
	points map[int64]float64
}

func (t *tseries) keys() []int64 {
	ks := make([]int64, 0, len(t.points))
	for k := range t.points {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// value is a number or a time series.
type value struct {
	series bool
	scalar float64
	ts     *tseries
}

func scalarValue(f float64) value  { return value{scalar: f} }
func seriesValue(t *tseries) value { return value{series: true, ts: t} }

// evalEnv resolves ids and knows the bucket grid.
type evalEnv struct {
	resolve func(id string) (value, error)
	grid    func(period int) []int64
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tIdent
	tOp
)

type token struct {
	kind tokKind
	text string
	num  float64
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case unicode.IsDigit(c) || c == '.' && i+1 < len(s) && unicode.IsDigit(rune(s[i+1])):
			j := i
			for j < len(s) && (unicode.IsDigit(rune(s[j])) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				(s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			f, err := strconv.ParseFloat(s[i:j], 64)
			if err != nil {
				return nil, fmt.Errorf("invalid number %q", s[i:j])
			}
			out = append(out, token{kind: tNum, text: s[i:j], num: f})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_') {
				j++
			}
			out = append(out, token{kind: tIdent, text: s[i:j]})
			i = j
		case strings.ContainsRune("+-*/(),", c):
			out = append(out, token{kind: tOp, text: string(c)})
			i++
		default:
			return nil, fmt.Errorf("%q is not supported by the relayshift lab (its metric math is + - * /, parentheses and FILL(series, number))", c)
		}
	}
	return append(out, token{kind: tEOF}), nil
}

// ---- parser (to an AST) ----

type node interface{}

type (
	numNode struct{ v float64 }
	idNode  struct{ id string }
	binNode struct {
		op   string
		l, r node
	}
	fillNode struct {
		x    node
		with float64
	}
)

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }
func (p *parser) isOp(ops ...string) bool {
	t := p.peek()
	return t.kind == tOp && slices.Contains(ops, t.text)
}

// parseExpression parses a metric math expression.
func parseExpression(s string) (node, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.add()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, fmt.Errorf("unexpected %q", p.peek().text)
	}
	return n, nil
}

func (p *parser) binary(ops []string, sub func() (node, error)) (node, error) {
	l, err := sub()
	if err != nil {
		return nil, err
	}
	for p.isOp(ops...) {
		op := p.next().text
		r, err := sub()
		if err != nil {
			return nil, err
		}
		l = binNode{op: op, l: l, r: r}
	}
	return l, nil
}

func (p *parser) add() (node, error) { return p.binary([]string{"+", "-"}, p.mul) }
func (p *parser) mul() (node, error) { return p.binary([]string{"*", "/"}, p.primary) }

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tNum:
		return numNode{t.num}, nil
	case tIdent:
		if !p.isOp("(") {
			return idNode{t.text}, nil
		}
		if fn := strings.ToUpper(t.text); fn != "FILL" {
			return nil, fmt.Errorf("function %s is not supported by the relayshift lab (only FILL)", fn)
		}
		p.next()
		x, err := p.add()
		if err != nil {
			return nil, err
		}
		if !p.isOp(",") {
			return nil, fmt.Errorf("FILL takes two arguments")
		}
		p.next()
		with := p.next()
		if with.kind != tNum {
			return nil, fmt.Errorf("FILL's second argument %q is not supported by the relayshift lab (only a number)", with.text)
		}
		if !p.isOp(")") {
			return nil, fmt.Errorf("FILL takes two arguments")
		}
		p.next()
		return fillNode{x: x, with: with.num}, nil
	case tOp:
		if t.text == "(" {
			n, err := p.add()
			if err != nil {
				return nil, err
			}
			if !p.isOp(")") {
				return nil, fmt.Errorf("missing )")
			}
			p.next()
			return n, nil
		}
		if t.text == "-" {
			return nil, fmt.Errorf("unary minus is not supported by the relayshift lab")
		}
	case tEOF:
		return nil, fmt.Errorf("unexpected end of expression")
	}
	return nil, fmt.Errorf("unexpected %q", t.text)
}

// ---- evaluation ----

func (env *evalEnv) eval(n node) (value, error) {
	switch x := n.(type) {
	case numNode:
		return scalarValue(x.v), nil
	case idNode:
		return env.resolve(x.id)
	case binNode:
		l, err := env.eval(x.l)
		if err != nil {
			return value{}, err
		}
		r, err := env.eval(x.r)
		if err != nil {
			return value{}, err
		}
		return binary(x.op, l, r), nil
	case fillNode:
		v, err := env.eval(x.x)
		if err != nil {
			return value{}, err
		}
		if !v.series {
			return value{}, fmt.Errorf("FILL needs a time series")
		}
		return seriesValue(env.fill(v.ts, x.with)), nil
	}
	return value{}, fmt.Errorf("unsupported expression")
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func mapSeries(t *tseries, f func(float64) float64) *tseries {
	out := &tseries{period: t.period, points: map[int64]float64{}}
	for k, v := range t.points {
		if r := f(v); finite(r) {
			out.points[k] = r
		}
	}
	return out
}

func applyOp(op string, a, b float64) float64 {
	switch op {
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	}
	// NOTE: CloudWatch drops a datapoint divided by zero rather than
	// reporting Inf; NaN is filtered by mapSeries/finite.
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// binary combines two values. Two series combine where both have a
// datapoint; a missing datapoint on either side gives none (that is what
// FILL is for).
func binary(op string, l, r value) value {
	switch {
	case !l.series && !r.series:
		return scalarValue(applyOp(op, l.scalar, r.scalar))
	case !r.series:
		return seriesValue(mapSeries(l.ts, func(a float64) float64 { return applyOp(op, a, r.scalar) }))
	case !l.series:
		return seriesValue(mapSeries(r.ts, func(b float64) float64 { return applyOp(op, l.scalar, b) }))
	}
	out := &tseries{period: l.ts.period, points: map[int64]float64{}}
	for k, a := range l.ts.points {
		if b, ok := r.ts.points[k]; ok {
			if v := applyOp(op, a, b); finite(v) {
				out.points[k] = v
			}
		}
	}
	return seriesValue(out)
}

// fill gives every bucket of the query's grid that t has no datapoint
// for the value with.
func (env *evalEnv) fill(t *tseries, with float64) *tseries {
	out := &tseries{period: t.period, points: map[int64]float64{}}
	for k, v := range t.points {
		out.points[k] = v
	}
	for _, k := range env.grid(t.period) {
		if _, ok := out.points[k]; !ok {
			out.points[k] = with
		}
	}
	return out
}
