package samtemplate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Statement is one IAM policy statement of a function's Policies.
type Statement struct {
	Sid       string
	Effect    string
	Actions   []string
	Resources []any
	// Condition names the template condition that guards the statement
	// or its policy document (Fn::If with AWS::NoValue), or is empty.
	Condition string
}

// Statements returns the inline policy statements of a function's (or
// state machine's) Policies. Anything else in Policies — a managed policy
// name, a SAM policy template — is an error: the checks must see every
// action granted.
func (t *Template) Statements(logicalID string) ([]Statement, error) {
	r, ok := t.Resources[logicalID]
	if !ok {
		return nil, fmt.Errorf("no resource %s", logicalID)
	}
	var out []Statement
	items, _ := r.Properties["Policies"].([]any)
	for i, item := range items {
		docCond := ""
		if f, ok := path(item, "Fn::If").([]any); ok && len(f) == 3 {
			docCond, _ = f[0].(string)
			item = f[1]
		}
		doc, ok := item.(map[string]any)
		if !ok || doc["Statement"] == nil || len(doc) != 1 {
			return nil, fmt.Errorf("%s: Policies[%d] is not an inline policy document ({Statement: [...]})", logicalID, i)
		}
		stmts, _ := doc["Statement"].([]any)
		for j, raw := range stmts {
			cond := docCond
			if f, ok := path(raw, "Fn::If").([]any); ok && len(f) == 3 {
				cond, _ = f[0].(string)
				raw = f[1]
			}
			m, ok := raw.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: Policies[%d].Statement[%d] is not a statement", logicalID, i, j)
			}
			s := Statement{Condition: cond}
			s.Sid, _ = m["Sid"].(string)
			s.Effect, _ = m["Effect"].(string)
			s.Actions = strings1(m["Action"])
			switch res := m["Resource"].(type) {
			case []any:
				s.Resources = res
			case nil:
			default:
				s.Resources = []any{res}
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// Actions returns the sorted, distinct actions the Allow statements grant.
func Actions(stmts []Statement) []string {
	var out []string
	for _, s := range stmts {
		if s.Effect == "Allow" {
			out = append(out, s.Actions...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func strings1(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// EventBridgeRules returns a function's EventBridgeRule events by name.
func (t *Template) EventBridgeRules(logicalID string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, ev := range mapOf(path(t.Resources[logicalID].Properties, "Events")) {
		m := mapOf(ev)
		if m["Type"] == "EventBridgeRule" {
			out[name] = mapOf(m["Properties"])
		}
	}
	return out
}

// Alarm is the regular shape of the pipeline's CloudWatch alarms: always
// the Metrics form (metric math or a single MetricStat), named
// ${AlarmPrefix}<suffix>.
type Alarm struct {
	LogicalID string
	// Suffix is the alarm name after the AlarmPrefix parameter, e.g.
	// "green-5xx-rate".
	Suffix             string
	Description        string
	Metrics            []AlarmMetric
	ComparisonOperator string
	// Threshold is a number or a {"Ref": parameter}.
	Threshold         any
	EvaluationPeriods int
	DatapointsToAlarm int
	TreatMissingData  string
}

// AlarmMetric is one entry of an alarm's Metrics.
type AlarmMetric struct {
	ID         string
	ReturnData bool
	Label      string
	// Expression is set for metric math entries.
	Expression string
	// The rest is set for MetricStat entries.
	Namespace  string
	MetricName string
	Stat       string
	Period     int
	// Dimensions maps a dimension name to its value (an intrinsic tree:
	// see Eval).
	Dimensions map[string]any
}

// Alarms returns the AWS::CloudWatch::Alarm resources in the regular shape,
// sorted by logical id. A resource that departs from the shape is an error,
// so the local lab can rely on it.
func (t *Template) Alarms() ([]Alarm, error) {
	var out []Alarm
	for _, r := range t.OfType("AWS::CloudWatch::Alarm") {
		p := r.Properties
		a := Alarm{LogicalID: r.LogicalID}
		sub, _ := path(p, "AlarmName", "Fn::Sub").(string)
		suffix, ok := strings.CutPrefix(sub, "${AlarmPrefix}")
		if !ok || suffix == "" || strings.Contains(suffix, "${") {
			return nil, fmt.Errorf("%s: AlarmName must be !Sub \"${AlarmPrefix}<suffix>\"", r.LogicalID)
		}
		a.Suffix = suffix
		a.Description, _ = p["AlarmDescription"].(string)
		a.ComparisonOperator, _ = p["ComparisonOperator"].(string)
		a.Threshold = p["Threshold"]
		a.TreatMissingData, _ = p["TreatMissingData"].(string)
		var err error
		if a.EvaluationPeriods, err = intOf(p["EvaluationPeriods"]); err != nil {
			return nil, fmt.Errorf("%s: EvaluationPeriods: %w", r.LogicalID, err)
		}
		if a.DatapointsToAlarm, err = intOf(p["DatapointsToAlarm"]); err != nil {
			return nil, fmt.Errorf("%s: DatapointsToAlarm: %w", r.LogicalID, err)
		}
		for _, k := range []string{"MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period"} {
			if _, ok := p[k]; ok {
				return nil, fmt.Errorf("%s: use the Metrics form, not %s", r.LogicalID, k)
			}
		}
		metrics, _ := p["Metrics"].([]any)
		if len(metrics) == 0 {
			return nil, fmt.Errorf("%s: no Metrics", r.LogicalID)
		}
		for i, raw := range metrics {
			m := mapOf(raw)
			am := AlarmMetric{Dimensions: map[string]any{}}
			am.ID, _ = m["Id"].(string)
			am.Label, _ = m["Label"].(string)
			am.Expression, _ = m["Expression"].(string)
			am.ReturnData, _ = m["ReturnData"].(bool)
			if ms := mapOf(m["MetricStat"]); len(ms) > 0 {
				am.Namespace, _ = path(ms, "Metric", "Namespace").(string)
				am.MetricName, _ = path(ms, "Metric", "MetricName").(string)
				am.Stat, _ = ms["Stat"].(string)
				if am.Period, err = intOf(ms["Period"]); err != nil {
					return nil, fmt.Errorf("%s: Metrics[%d].Period: %w", r.LogicalID, i, err)
				}
				dims, _ := path(ms, "Metric", "Dimensions").([]any)
				for _, d := range dims {
					dm := mapOf(d)
					name, _ := dm["Name"].(string)
					am.Dimensions[name] = dm["Value"]
				}
			} else if am.Expression == "" {
				return nil, fmt.Errorf("%s: Metrics[%d] has neither MetricStat nor Expression", r.LogicalID, i)
			}
			a.Metrics = append(a.Metrics, am)
		}
		out = append(out, a)
	}
	return out, nil
}

func intOf(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case float64:
		return int(x), nil
	case string:
		return strconv.Atoi(x)
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// Eval evaluates the intrinsic functions the pipeline's alarms and
// dashboard use — Ref (to params, which should include pseudo parameters
// such as AWS::Region when used), Fn::Select, Fn::Split, Fn::Join, Fn::Sub —
// and returns the resulting value. Anything else is an error.
func Eval(v any, params map[string]string) (any, error) {
	switch x := v.(type) {
	case string, int, float64, bool, nil:
		return x, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := Eval(e, params)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, fmt.Errorf("cannot evaluate a mapping of %d keys", len(x))
		}
		for fn, arg := range x {
			return evalFn(fn, arg, params)
		}
	}
	return nil, fmt.Errorf("cannot evaluate %T", v)
}

func evalFn(fn string, arg any, params map[string]string) (any, error) {
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		v, ok := params[name]
		if !ok {
			return nil, fmt.Errorf("evaluate Ref %q: no value given", name)
		}
		return v, nil
	case "Fn::Select":
		a, err := Eval(arg, params)
		if err != nil {
			return nil, err
		}
		args, _ := a.([]any)
		if len(args) != 2 {
			return nil, fmt.Errorf("evaluate Fn::Select wants [index, list]")
		}
		i, err := intOf(args[0])
		if err != nil {
			return nil, err
		}
		list, _ := args[1].([]any)
		if i < 0 || i >= len(list) {
			return nil, fmt.Errorf("evaluate Fn::Select index %d outside %d items", i, len(list))
		}
		return list[i], nil
	case "Fn::Split":
		a, err := Eval(arg, params)
		if err != nil {
			return nil, err
		}
		args, _ := a.([]any)
		if len(args) != 2 {
			return nil, fmt.Errorf("evaluate Fn::Split wants [delimiter, string]")
		}
		d, _ := args[0].(string)
		s, _ := args[1].(string)
		var out []any
		for _, p := range strings.Split(s, d) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Join":
		a, err := Eval(arg, params)
		if err != nil {
			return nil, err
		}
		args, _ := a.([]any)
		if len(args) != 2 {
			return nil, fmt.Errorf("evaluate Fn::Join wants [delimiter, list]")
		}
		d, _ := args[0].(string)
		list, _ := args[1].([]any)
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, d), nil
	case "Fn::Sub":
		var tmpl string
		vars := map[string]string{}
		for k, v := range params {
			vars[k] = v
		}
		switch a := arg.(type) {
		case string:
			tmpl = a
		case []any:
			if len(a) != 2 {
				return nil, fmt.Errorf("evaluate Fn::Sub wants a string or [string, variables]")
			}
			tmpl, _ = a[0].(string)
			for k, raw := range mapOf(a[1]) {
				v, err := Eval(raw, params)
				if err != nil {
					return nil, err
				}
				vars[k] = fmt.Sprint(v)
			}
		}
		var b strings.Builder
		for {
			i := strings.Index(tmpl, "${")
			if i < 0 {
				b.WriteString(tmpl)
				return b.String(), nil
			}
			j := strings.Index(tmpl[i:], "}")
			if j < 0 {
				return nil, fmt.Errorf("evaluate Fn::Sub: unterminated ${ in %q", tmpl)
			}
			name := tmpl[i+2 : i+j]
			b.WriteString(tmpl[:i])
			if strings.HasPrefix(name, "!") {
				b.WriteString("${" + name[1:] + "}")
			} else {
				v, ok := vars[name]
				if !ok {
					return nil, fmt.Errorf("evaluate Fn::Sub: no value for ${%s}", name)
				}
				b.WriteString(v)
			}
			tmpl = tmpl[i+j+1:]
		}
	}
	return nil, fmt.Errorf("cannot evaluate %s", fn)
}
