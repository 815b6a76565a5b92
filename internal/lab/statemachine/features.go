package statemachine

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// supportedFeatures are the ASL features the engine implements: exactly
// the ones the project's definition (infra/statemachine/deploy.asl.json)
// uses, no more — TestSupportedFeaturesAreThoseOfTheRealDefinition fails
// when the two sets differ. Load refuses a definition using any other
// feature, naming it and the state.
//
// A feature is a state type, a field of a state type, a Retry or Catch
// field, a choice-rule operator, an intrinsic function, a States.* error
// name in ErrorEquals, a context-object path, or a path form. The
// transition grammar every definition needs (StartAt, States, Type, Next,
// End, Comment) is not counted: End: true ends the execution with the
// state's output exactly as a Next to a Succeed state does.
var supportedFeatures = []string{
	"QueryLanguage JSONPath",

	"Task state",
	"Task Resource " + lambdaInvoke,
	"Task Parameters",
	"lambda:invoke parameter FunctionName",
	"lambda:invoke parameter Payload",
	"Task ResultSelector",
	"Task ResultPath",
	"Task Retry",
	"Task Catch",
	"Retry ErrorEquals",
	"Retry IntervalSeconds",
	"Retry MaxAttempts",
	"Retry BackoffRate",
	"Retry MaxDelaySeconds",
	"Catch ErrorEquals",
	"Catch ResultPath",
	"error name States.ALL",

	"Pass state",
	"Pass Parameters",
	"Pass Result",
	"Pass ResultPath",

	"Wait state",
	"Wait Seconds",
	"Wait SecondsPath",

	"Choice state",
	"Choice Choices",
	"Choice Default",
	"choice rule StringEquals",
	"choice rule BooleanEquals",
	"choice rule Or",

	"Succeed state",

	"Fail state",
	"Fail Error",
	"Fail CausePath",

	"intrinsic function States.Format",
	"intrinsic function States.JsonToString",
	"intrinsic argument string literal",
	"intrinsic argument path",
	"intrinsic argument intrinsic function",

	"context object $$.Execution.Id",
}

// SupportedFeatures returns the ASL features the engine implements, sorted.
func SupportedFeatures() []string {
	return slices.Sorted(slices.Values(supportedFeatures))
}

// featureUse is one use of a feature in a definition.
type featureUse struct {
	feature string
	where   string
}

// aslStateFields are the fields the Amazon States Language (JSONPath and
// JSONata) defines for states, whatever their type. A field outside this
// list is a mistake, reported by the parser; a field in it is a feature.
var aslStateFields = []string{
	"Arguments", "Assign", "Branches", "Catch", "Cause", "CausePath", "Choices", "Credentials",
	"Default", "Error", "ErrorPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "InputPath",
	"ItemBatcher", "ItemProcessor", "ItemReader", "ItemSelector", "Items", "ItemsPath", "Iterator",
	"Label", "MaxConcurrency", "MaxConcurrencyPath", "Output", "OutputPath", "Parameters",
	"QueryLanguage", "Resource", "Result", "ResultPath", "ResultSelector", "ResultWriter", "Retry",
	"Seconds", "SecondsPath", "TimeoutSeconds", "TimeoutSecondsPath", "Timestamp", "TimestampPath",
	"ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage",
	"ToleratedFailurePercentagePath",
}

// aslStateTypes are the ASL state types.
var aslStateTypes = []string{"Task", "Parallel", "Map", "Pass", "Wait", "Choice", "Succeed", "Fail"}

// pathFields are the state fields whose value is a path.
var pathFields = []string{"InputPath", "OutputPath", "ResultPath", "SecondsPath", "TimestampPath", "ItemsPath"}

// features lists the features a decoded definition uses, in definition
// order. It reads the raw document, independently of the parser, so that
// a feature the engine does not implement is named before the parser
// could misread it.
func features(top map[string]any, order []string) ([]featureUse, error) {
	var out []featureUse
	use := func(where, feature string) { out = append(out, featureUse{feature: feature, where: where}) }
	for _, k := range sortedKeys(top) {
		switch k {
		case "QueryLanguage":
			use("definition", fmt.Sprintf("QueryLanguage %v", top[k]))
		case "Version", "TimeoutSeconds":
			use("definition", "the top-level "+k)
		}
	}
	states, _ := top["States"].(map[string]any)
	for _, name := range order {
		m, ok := states[name].(map[string]any)
		if !ok {
			continue
		}
		where := fmt.Sprintf("state %q", name)
		typ, _ := m["Type"].(string)
		if !slices.Contains(aslStateTypes, typ) {
			continue // the parser reports it
		}
		use(where, typ+" state")
		for _, k := range sortedKeys(m) {
			if !slices.Contains(aslStateFields, k) {
				continue // Type, Comment, Next, End, or a mistake the parser reports
			}
			v := m[k]
			if k != "Resource" {
				use(where, typ+" "+k)
			}
			switch {
			case slices.Contains(pathFields, k):
				if v == nil {
					use(where, typ+" "+k+" null")
				} else if s, ok := v.(string); ok {
					pathFeatures(s, where, use)
				}
			case k == "Resource":
				use(where, fmt.Sprintf("Task Resource %v", v))
			case k == "Parameters" || k == "ResultSelector":
				if err := templateFeatures(v, where, use); err != nil {
					return nil, err
				}
				if p, ok := v.(map[string]any); ok && typ == "Task" && m["Resource"] == lambdaInvoke && k == "Parameters" {
					for _, pk := range sortedKeys(p) {
						use(where, "lambda:invoke parameter "+strings.TrimSuffix(pk, ".$"))
					}
				}
			case k == "Retry" || k == "Catch":
				list, _ := v.([]any)
				for i, e := range list {
					r, _ := e.(map[string]any)
					at := fmt.Sprintf("%s: %s[%d]", where, k, i)
					for _, rk := range sortedKeys(r) {
						if rk == "Comment" || rk == "Next" {
							continue
						}
						use(at, k+" "+rk)
					}
					errs, _ := r["ErrorEquals"].([]any)
					for _, e := range errs {
						if s, ok := e.(string); ok && strings.HasPrefix(s, "States.") {
							use(at, "error name "+s)
						}
					}
					if k == "Catch" {
						if rp, ok := r["ResultPath"]; ok {
							if rp == nil {
								use(at, "Catch ResultPath null")
							} else if s, ok := rp.(string); ok {
								pathFeatures(s, at, use)
							}
						}
					}
				}
			case k == "Choices":
				list, _ := v.([]any)
				for i, e := range list {
					choiceFeatures(e, fmt.Sprintf("%s: Choices[%d]", where, i), use)
				}
			case k == "ErrorPath" || k == "CausePath":
				s, _ := v.(string)
				if isIntrinsic(s) {
					use(where, typ+" "+k+" with an intrinsic function")
					if err := intrinsicFeatures(s, where, use); err != nil {
						return nil, err
					}
				} else {
					pathFeatures(s, where, use)
				}
			}
		}
	}
	return out, nil
}

// checkFeatures refuses a definition that uses a feature the engine does
// not implement.
func checkFeatures(top map[string]any, order []string) error {
	uses, err := features(top, order)
	if err != nil {
		return err
	}
	for _, u := range uses {
		if !slices.Contains(supportedFeatures, u.feature) {
			return unsupported(u.where, u.feature)
		}
	}
	return nil
}

func choiceFeatures(v any, where string, use func(string, string)) {
	r, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, k := range sortedKeys(r) {
		switch k {
		case "Next", "Comment":
			continue
		case "Variable":
			if s, ok := r[k].(string); ok {
				pathFeatures(s, where, use)
			}
			continue
		}
		use(where, "choice rule "+k)
		switch k {
		case "And", "Or":
			list, _ := r[k].([]any)
			for i, e := range list {
				choiceFeatures(e, fmt.Sprintf("%s.%s[%d]", where, k, i), use)
			}
		case "Not":
			choiceFeatures(r[k], where+".Not", use)
		default:
			if s, ok := r[k].(string); ok && strings.HasSuffix(k, "Path") {
				pathFeatures(s, where, use)
			}
		}
	}
}

// templateFeatures lists the paths and intrinsic functions of a payload
// template.
func templateFeatures(v any, where string, use func(string, string)) error {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			s, isString := t[k].(string)
			switch {
			case !strings.HasSuffix(k, ".$") || !isString:
				if err := templateFeatures(t[k], where, use); err != nil {
					return err
				}
			case isIntrinsic(s):
				if err := intrinsicFeatures(s, where, use); err != nil {
					return err
				}
			default:
				pathFeatures(s, where, use)
			}
		}
	case []any:
		for _, e := range t {
			if err := templateFeatures(e, where, use); err != nil {
				return err
			}
		}
	}
	return nil
}

// intrinsicFeatures lists the functions an intrinsic invocation calls and
// the paths it reads.
func intrinsicFeatures(s, where string, use func(string, string)) error {
	c, err := scanIntrinsic(s)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	var walk func(c *intrinsicCall)
	walk = func(c *intrinsicCall) {
		use(where, "intrinsic function "+c.name)
		for _, a := range c.args {
			switch {
			case a.call != nil:
				use(where, "intrinsic argument intrinsic function")
				walk(a.call)
			case a.path != "":
				use(where, "intrinsic argument path")
				pathFeatures(a.path, where, use)
			default:
				use(where, "intrinsic argument "+a.kind)
			}
		}
	}
	walk(c)
	return nil
}

// pathFeatures lists the features of a path: the context object field it
// reads, subscripts.
func pathFeatures(p, where string, use func(string, string)) {
	if strings.HasPrefix(p, "$$") {
		use(where, "context object "+p)
	}
	if strings.Contains(p, "[") {
		use(where, "path subscripts [...]")
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
