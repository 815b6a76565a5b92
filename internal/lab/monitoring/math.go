package monitoring

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The metric math the lab evaluates: arithmetic (+ - * / ^, unary minus),
// comparisons (== != < <= > >=, giving 1 or 0), logic (AND/&&, OR/||,
// NOT/!), parentheses, [array] literals, and the functions FILL (value,
// REPEAT, LINEAR), IF, ABS, CEIL, FLOOR, SQRT, SUM, AVG, MIN, MAX, STDDEV,
// METRICS, PERIOD, DIFF, RATE, RUNNING_SUM. Anything else is refused with
// a ValidationError naming it.

// tseries is a time series on a grid of buckets, keyed by bucket start.
type tseries struct {
	period int // seconds, as the query states it
	label  string
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

type valueKind int

const (
	kScalar valueKind = iota
	kSeries
	kArray
	kWord
)

type value struct {
	kind   valueKind
	scalar float64
	ts     *tseries
	arr    []*tseries
	word   string
}

func scalarValue(f float64) value  { return value{kind: kScalar, scalar: f} }
func seriesValue(t *tseries) value { return value{kind: kSeries, ts: t} }

// evalEnv resolves ids and knows the bucket grid.
type evalEnv struct {
	resolve func(id string) (value, error)
	grid    func(period int) []int64
	metrics func(filter string) []*tseries
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tIdent
	tString
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
		case c == '"' || c == '\'':
			j := strings.IndexByte(s[i+1:], byte(c))
			if j < 0 {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, token{kind: tString, text: s[i+1 : i+1+j]})
			i += j + 2
		default:
			for _, op := range []string{"==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "^", "(", ")", "[", "]", ",", "<", ">", "!"} {
				if strings.HasPrefix(s[i:], op) {
					out = append(out, token{kind: tOp, text: op})
					i += len(op)
					goto next
				}
			}
			return nil, fmt.Errorf("unexpected character %q", c)
		next:
		}
	}
	return append(out, token{kind: tEOF}), nil
}

// ---- parser (to an AST) ----

type node interface{}

type (
	numNode  struct{ v float64 }
	strNode  struct{ s string }
	idNode   struct{ id string }
	wordNode struct{ w string }
	unNode   struct {
		op string
		x  node
	}
	binNode struct {
		op   string
		l, r node
	}
	callNode struct {
		fn   string
		args []node
	}
	arrNode struct{ items []node }
)

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }
func (p *parser) isOp(ops ...string) bool {
	t := p.peek()
	if t.kind == tOp && slices.Contains(ops, t.text) {
		return true
	}
	return t.kind == tIdent && slices.Contains(ops, strings.ToUpper(t.text)) && (t.text == strings.ToUpper(t.text))
}

// parseExpression parses a metric math expression.
func parseExpression(s string) (node, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, fmt.Errorf("unexpected %q", p.peek().text)
	}
	return n, nil
}

func (p *parser) binary(ops []string, sub func() (node, error), canon map[string]string) (node, error) {
	l, err := sub()
	if err != nil {
		return nil, err
	}
	for p.isOp(ops...) {
		op := p.next().text
		if c, ok := canon[strings.ToUpper(op)]; ok {
			op = c
		}
		r, err := sub()
		if err != nil {
			return nil, err
		}
		l = binNode{op: op, l: l, r: r}
	}
	return l, nil
}

func (p *parser) or() (node, error) {
	return p.binary([]string{"||", "OR"}, p.and, map[string]string{"OR": "||"})
}

func (p *parser) and() (node, error) {
	return p.binary([]string{"&&", "AND"}, p.not, map[string]string{"AND": "&&"})
}

func (p *parser) not() (node, error) {
	if p.isOp("!", "NOT") {
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return unNode{op: "!", x: x}, nil
	}
	return p.cmp()
}

func (p *parser) cmp() (node, error) {
	l, err := p.add()
	if err != nil {
		return nil, err
	}
	if p.isOp("==", "!=", "<", "<=", ">", ">=") {
		op := p.next().text
		r, err := p.add()
		if err != nil {
			return nil, err
		}
		return binNode{op: op, l: l, r: r}, nil
	}
	return l, nil
}

func (p *parser) add() (node, error) { return p.binary([]string{"+", "-"}, p.mul, nil) }
func (p *parser) mul() (node, error) { return p.binary([]string{"*", "/"}, p.pow, nil) }

func (p *parser) pow() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	if p.isOp("^") {
		p.next()
		r, err := p.pow()
		if err != nil {
			return nil, err
		}
		return binNode{op: "^", l: l, r: r}, nil
	}
	return l, nil
}

func (p *parser) unary() (node, error) {
	if p.isOp("-") {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return unNode{op: "-", x: x}, nil
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tNum:
		return numNode{t.num}, nil
	case tString:
		return strNode{t.text}, nil
	case tIdent:
		if p.isOp("(") {
			p.next()
			var args []node
			for !p.isOp(")") {
				a, err := p.or()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if p.isOp(",") {
					p.next()
				} else if !p.isOp(")") {
					return nil, fmt.Errorf("expected , or ) in the arguments of %s", t.text)
				}
			}
			p.next()
			return callNode{fn: strings.ToUpper(t.text), args: args}, nil
		}
		if t.text == "REPEAT" || t.text == "LINEAR" {
			return wordNode{t.text}, nil
		}
		return idNode{t.text}, nil
	case tOp:
		switch t.text {
		case "(":
			n, err := p.or()
			if err != nil {
				return nil, err
			}
			if !p.isOp(")") {
				return nil, fmt.Errorf("missing )")
			}
			p.next()
			return n, nil
		case "[":
			var items []node
			for !p.isOp("]") {
				it, err := p.or()
				if err != nil {
					return nil, err
				}
				items = append(items, it)
				if p.isOp(",") {
					p.next()
				} else if !p.isOp("]") {
					return nil, fmt.Errorf("expected , or ] in an array")
				}
			}
			p.next()
			return arrNode{items}, nil
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
	case strNode:
		return value{kind: kWord, word: x.s}, nil
	case wordNode:
		return value{kind: kWord, word: x.w}, nil
	case idNode:
		return env.resolve(x.id)
	case unNode:
		v, err := env.eval(x.x)
		if err != nil {
			return value{}, err
		}
		if x.op == "-" {
			return mapValue(v, func(f float64) float64 { return -f })
		}
		return mapValue(v, func(f float64) float64 { return b2f(f == 0) })
	case binNode:
		l, err := env.eval(x.l)
		if err != nil {
			return value{}, err
		}
		r, err := env.eval(x.r)
		if err != nil {
			return value{}, err
		}
		return binary(x.op, l, r)
	case arrNode:
		var arr []*tseries
		for _, it := range x.items {
			v, err := env.eval(it)
			if err != nil {
				return value{}, err
			}
			switch v.kind {
			case kSeries:
				arr = append(arr, v.ts)
			case kArray:
				arr = append(arr, v.arr...)
			default:
				return value{}, fmt.Errorf("an array may hold only time series")
			}
		}
		return value{kind: kArray, arr: arr}, nil
	case callNode:
		return env.call(x)
	}
	return value{}, fmt.Errorf("unsupported expression")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// mapValue applies f to a scalar, every point of a series, or every series
// of an array. Non-finite results are dropped (no datapoint).
func mapValue(v value, f func(float64) float64) (value, error) {
	switch v.kind {
	case kScalar:
		return scalarValue(f(v.scalar)), nil
	case kSeries:
		return seriesValue(mapSeries(v.ts, f)), nil
	case kArray:
		out := value{kind: kArray}
		for _, t := range v.arr {
			out.arr = append(out.arr, mapSeries(t, f))
		}
		return out, nil
	}
	return value{}, fmt.Errorf("%q is not a number or a time series", v.word)
}

func mapSeries(t *tseries, f func(float64) float64) *tseries {
	out := &tseries{period: t.period, label: t.label, points: map[int64]float64{}}
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
	case "/":
		// NOTE: CloudWatch drops a datapoint divided by zero rather than
		// reporting Inf; NaN is filtered by mapSeries/finite.
		if b == 0 {
			return math.NaN()
		}
		return a / b
	case "^":
		return math.Pow(a, b)
	case "==":
		return b2f(a == b)
	case "!=":
		return b2f(a != b)
	case "<":
		return b2f(a < b)
	case "<=":
		return b2f(a <= b)
	case ">":
		return b2f(a > b)
	case ">=":
		return b2f(a >= b)
	case "&&":
		return b2f(a != 0 && b != 0)
	case "||":
		return b2f(a != 0 || b != 0)
	}
	return math.NaN()
}

// binary combines two values. Two series combine where both have a
// datapoint; a missing datapoint on either side gives none (that is what
// FILL is for).
func binary(op string, l, r value) (value, error) {
	switch {
	case l.kind == kScalar && r.kind == kScalar:
		return scalarValue(applyOp(op, l.scalar, r.scalar)), nil
	case l.kind == kSeries && r.kind == kScalar:
		return seriesValue(mapSeries(l.ts, func(a float64) float64 { return applyOp(op, a, r.scalar) })), nil
	case l.kind == kScalar && r.kind == kSeries:
		return seriesValue(mapSeries(r.ts, func(b float64) float64 { return applyOp(op, l.scalar, b) })), nil
	case l.kind == kSeries && r.kind == kSeries:
		out := &tseries{period: l.ts.period, points: map[int64]float64{}}
		for k, a := range l.ts.points {
			if b, ok := r.ts.points[k]; ok {
				if v := applyOp(op, a, b); finite(v) {
					out.points[k] = v
				}
			}
		}
		return seriesValue(out), nil
	case l.kind == kArray && (r.kind == kScalar || r.kind == kSeries):
		out := value{kind: kArray}
		for _, t := range l.arr {
			v, err := binary(op, seriesValue(t), r)
			if err != nil {
				return value{}, err
			}
			out.arr = append(out.arr, v.ts)
		}
		return out, nil
	case r.kind == kArray && (l.kind == kScalar || l.kind == kSeries):
		out := value{kind: kArray}
		for _, t := range r.arr {
			v, err := binary(op, l, seriesValue(t))
			if err != nil {
				return value{}, err
			}
			out.arr = append(out.arr, v.ts)
		}
		return out, nil
	}
	return value{}, fmt.Errorf("operator %s cannot combine these operands", op)
}

func (env *evalEnv) call(c callNode) (value, error) {
	args := make([]value, len(c.args))
	for i, a := range c.args {
		v, err := env.eval(a)
		if err != nil {
			return value{}, err
		}
		args[i] = v
	}
	want := func(n ...int) error {
		if !slices.Contains(n, len(args)) {
			return fmt.Errorf("%s takes %v arguments, got %d", c.fn, n, len(args))
		}
		return nil
	}
	switch c.fn {
	case "FILL":
		if err := want(2); err != nil {
			return value{}, err
		}
		fill := func(t *tseries) (*tseries, error) { return env.fill(t, args[1]) }
		switch args[0].kind {
		case kSeries:
			t, err := fill(args[0].ts)
			return seriesValue(t), err
		case kArray:
			out := value{kind: kArray}
			for _, t := range args[0].arr {
				f, err := fill(t)
				if err != nil {
					return value{}, err
				}
				out.arr = append(out.arr, f)
			}
			return out, nil
		}
		return value{}, fmt.Errorf("FILL needs a time series")
	case "IF":
		if err := want(2, 3); err != nil {
			return value{}, err
		}
		return env.ifFn(args)
	case "ABS", "CEIL", "FLOOR", "SQRT":
		if err := want(1); err != nil {
			return value{}, err
		}
		f := map[string]func(float64) float64{"ABS": math.Abs, "CEIL": math.Ceil, "FLOOR": math.Floor, "SQRT": math.Sqrt}[c.fn]
		return mapValue(args[0], f)
	case "SUM", "AVG", "MIN", "MAX", "STDDEV":
		if err := want(1); err != nil {
			return value{}, err
		}
		return aggregate(c.fn, args[0])
	case "METRICS":
		if err := want(0, 1); err != nil {
			return value{}, err
		}
		filter := ""
		if len(args) == 1 {
			filter = args[0].word
		}
		return value{kind: kArray, arr: env.metrics(filter)}, nil
	case "PERIOD":
		if err := want(1); err != nil {
			return value{}, err
		}
		if args[0].kind != kSeries {
			return value{}, fmt.Errorf("PERIOD needs a time series")
		}
		return scalarValue(float64(args[0].ts.period)), nil
	case "DIFF", "RATE", "RUNNING_SUM":
		if err := want(1); err != nil {
			return value{}, err
		}
		if args[0].kind != kSeries {
			return value{}, fmt.Errorf("%s needs a time series", c.fn)
		}
		return seriesValue(sequential(c.fn, args[0].ts)), nil
	}
	return value{}, fmt.Errorf("function %s is not supported by the relayshift lab", c.fn)
}

// fill fills the missing buckets of t over the query's grid with a value,
// the previous datapoint (REPEAT) or a linear interpolation (LINEAR).
func (env *evalEnv) fill(t *tseries, with value) (*tseries, error) {
	grid := env.grid(t.period)
	out := &tseries{period: t.period, label: t.label, points: map[int64]float64{}}
	for k, v := range t.points {
		out.points[k] = v
	}
	switch {
	case with.kind == kScalar:
		for _, k := range grid {
			if _, ok := out.points[k]; !ok {
				out.points[k] = with.scalar
			}
		}
	case with.kind == kWord && with.word == "REPEAT":
		var last *float64
		for _, k := range grid {
			if v, ok := t.points[k]; ok {
				last = &v
			} else if last != nil {
				out.points[k] = *last
			}
		}
	case with.kind == kWord && with.word == "LINEAR":
		ks := t.keys()
		for _, k := range grid {
			if _, ok := t.points[k]; ok {
				continue
			}
			i, _ := slices.BinarySearch(ks, k)
			if i == 0 || i == len(ks) {
				continue
			}
			a, b := ks[i-1], ks[i]
			va, vb := t.points[a], t.points[b]
			out.points[k] = va + (vb-va)*float64(k-a)/float64(b-a)
		}
	default:
		return nil, fmt.Errorf("FILL's second argument must be a number, REPEAT or LINEAR")
	}
	return out, nil
}

func (env *evalEnv) ifFn(args []value) (value, error) {
	cond := args[0]
	pick := func(v value, k int64) (float64, bool) {
		switch v.kind {
		case kScalar:
			return v.scalar, true
		case kSeries:
			f, ok := v.ts.points[k]
			return f, ok
		}
		return 0, false
	}
	if cond.kind == kScalar {
		if cond.scalar != 0 {
			return args[1], nil
		}
		if len(args) == 3 {
			return args[2], nil
		}
		return seriesValue(&tseries{points: map[int64]float64{}}), nil
	}
	if cond.kind != kSeries {
		return value{}, fmt.Errorf("IF needs a time series or a number as its condition")
	}
	out := &tseries{period: cond.ts.period, points: map[int64]float64{}}
	for k, c := range cond.ts.points {
		if c != 0 {
			if f, ok := pick(args[1], k); ok {
				out.points[k] = f
			}
		} else if len(args) == 3 {
			if f, ok := pick(args[2], k); ok {
				out.points[k] = f
			}
		}
	}
	return seriesValue(out), nil
}

// aggregate: over one series, a scalar of all its values; over an array,
// a series of the per-timestamp aggregate.
func aggregate(fn string, v value) (value, error) {
	agg := func(xs []float64) float64 {
		switch fn {
		case "SUM":
			s := 0.0
			for _, x := range xs {
				s += x
			}
			return s
		case "AVG":
			s := 0.0
			for _, x := range xs {
				s += x
			}
			return s / float64(len(xs))
		case "MIN":
			return slices.Min(xs)
		case "MAX":
			return slices.Max(xs)
		}
		mean := 0.0
		for _, x := range xs {
			mean += x
		}
		mean /= float64(len(xs))
		ss := 0.0
		for _, x := range xs {
			ss += (x - mean) * (x - mean)
		}
		return math.Sqrt(ss / float64(len(xs)))
	}
	switch v.kind {
	case kScalar:
		return v, nil
	case kSeries:
		var xs []float64
		for _, x := range v.ts.points {
			xs = append(xs, x)
		}
		if len(xs) == 0 {
			return seriesValue(&tseries{period: v.ts.period, points: map[int64]float64{}}), nil
		}
		return scalarValue(agg(xs)), nil
	case kArray:
		out := &tseries{points: map[int64]float64{}}
		byKey := map[int64][]float64{}
		for _, t := range v.arr {
			out.period = t.period
			for k, x := range t.points {
				byKey[k] = append(byKey[k], x)
			}
		}
		for k, xs := range byKey {
			out.points[k] = agg(xs)
		}
		return seriesValue(out), nil
	}
	return value{}, fmt.Errorf("%s needs a time series or an array", fn)
}

func sequential(fn string, t *tseries) *tseries {
	out := &tseries{period: t.period, points: map[int64]float64{}}
	ks := t.keys()
	run := 0.0
	for i, k := range ks {
		v := t.points[k]
		switch fn {
		case "RUNNING_SUM":
			run += v
			out.points[k] = run
		case "DIFF", "RATE":
			if i == 0 {
				continue
			}
			d := v - t.points[ks[i-1]]
			if fn == "RATE" {
				d /= float64(k-ks[i-1]) / float64(time.Second)
			}
			out.points[k] = d
		}
	}
	return out
}
