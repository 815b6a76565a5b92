package infra_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/samtemplate"
	"github.com/relayshift/relayshift/internal/scenario"
)

// checkASLValidator runs asl-validator (pinned in package-lock.json) on the
// definition.
func checkASLValidator(t *testing.T, a artefacts) error {
	nm := nodeModules(t)
	out, err := run(t, string(a), "node", filepath.Join(nm, "asl-validator", "dist", "bin", "asl-validator.js"), "--json-path", a.path(aslFile))
	if err != nil {
		return fmt.Errorf("asl-validator: %v\n%s", err, out)
	}
	return nil
}

// checkSubstitutions: every ${...} in the definition is provided by the
// state machine's DefinitionSubstitutions (and every substitution is used),
// every Task invokes a function of the template through the optimized
// Lambda integration, and the state machine may invoke exactly those.
func checkSubstitutions(t *testing.T, a artefacts) error {
	tmpl := loadTemplate(t, a)
	d, raw := loadASL(t, a)
	sm := stateMachine(tmpl)
	var errs []error
	if sm.LogicalID == "" {
		return fmt.Errorf("template.yaml has no single AWS::Serverless::StateMachine")
	}
	if uri := sm.Properties["DefinitionUri"]; uri != aslFile {
		errs = append(errs, fmt.Errorf("DefinitionUri is %v, want %s", uri, aslFile))
	}
	subs, _ := sm.Properties["DefinitionSubstitutions"].(map[string]any)
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([^}]*)\}`).FindAllStringSubmatch(raw, -1) {
		if used[m[1]] {
			continue
		}
		used[m[1]] = true
		if _, ok := subs[m[1]]; !ok {
			errs = append(errs, fmt.Errorf("the definition uses ${%s}, which DefinitionSubstitutions does not provide", m[1]))
		}
	}
	for k := range subs {
		if !used[k] {
			errs = append(errs, fmt.Errorf("DefinitionSubstitutions provides %s, which the definition does not use", k))
		}
	}
	invoked := map[string]bool{}
	for _, name := range d.tasks() {
		s := d.States[name]
		if s.Resource != "arn:aws:states:::lambda:invoke" {
			errs = append(errs, fmt.Errorf("task %q: Resource %q, want the optimized Lambda integration arn:aws:states:::lambda:invoke", name, s.Resource))
		}
		id, err := functionOf(tmpl, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("task %q: %w", name, err))
			continue
		}
		invoked[id] = true
	}
	stmts, err := tmpl.Statements(sm.LogicalID)
	if err != nil {
		return err
	}
	var allowed []string
	for _, s := range stmts {
		if !slices.Contains(s.Actions, "lambda:InvokeFunction") {
			continue
		}
		for _, r := range s.Resources {
			ga, _ := samtemplate.Path(r, "Fn::GetAtt").([]any)
			if len(ga) != 2 || ga[1] != "Arn" {
				errs = append(errs, fmt.Errorf("the state machine may invoke %v: want only !GetAtt <Function>.Arn", r))
				continue
			}
			allowed = append(allowed, ga[0].(string))
		}
	}
	slices.Sort(allowed)
	if want := slices.Sorted(maps.Keys(invoked)); !slices.Equal(allowed, want) {
		errs = append(errs, fmt.Errorf("the state machine's role may invoke %v; its Tasks invoke %v", allowed, want))
	}
	return joinErrs(errs)
}

// knownStatesErrors and knownLambdaErrors are the predefined names a
// definition may use besides ours.
var (
	knownStatesErrors = []string{"States.ALL", "States.TaskFailed", "States.Timeout", "States.Runtime",
		"States.HeartbeatTimeout", "States.Permissions", "States.ResultPathMatchFailure",
		"States.ParameterPathFailure", "States.BranchFailed", "States.NoChoiceMatched",
		"States.IntrinsicFailure", "States.ExceedToleratedFailureThreshold", "States.ItemReaderFailed",
		"States.ResultWriterFailed", "States.QueryEvaluationError"}
	// NOTE: the Lambda integration's own error names (Step Functions
	// developer guide, "Handling errors"; AWS-FACTS.md).
	knownLambdaErrors = []string{"Lambda.ServiceException", "Lambda.AWSLambdaException",
		"Lambda.SdkClientException", "Lambda.ClientExecutionTimeoutException",
		"Lambda.TooManyRequestsException", "Lambda.Unknown"}
)

// checkErrorNames: every error name in the definition (Retry, Catch, the
// errors Pass states build, Fail states) exists in internal/deploy (or is a
// predefined States./Lambda. name); every retryable Go name is retried, and
// Throttled on every task; every task after Preflight but the rollback
// catches States.ALL into the rollback with ResultPath $.error.
func checkErrorNames(t *testing.T, a artefacts) error {
	d, _ := loadASL(t, a)
	var errs []error
	codes := map[string]deploy.Code{}
	for _, c := range deploy.Codes() {
		codes[string(c)] = c
	}
	known := func(where, name string) {
		switch {
		case strings.HasPrefix(name, "States."):
			if !slices.Contains(knownStatesErrors, name) {
				errs = append(errs, fmt.Errorf("%s: %s is not a predefined States error", where, name))
			}
		case strings.HasPrefix(name, "Lambda."):
			if !slices.Contains(knownLambdaErrors, name) {
				errs = append(errs, fmt.Errorf("%s: %s is not a Lambda integration error", where, name))
			}
		default:
			if _, ok := codes[name]; !ok {
				errs = append(errs, fmt.Errorf("%s: error name %s is not in internal/deploy.Codes()", where, name))
			}
		}
	}
	retried := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(d.States)) {
		s := d.States[name]
		for _, r := range s.Retry {
			for _, e := range r.ErrorEquals {
				known(fmt.Sprintf("%q Retry", name), e)
				retried[e] = append(retried[e], name)
			}
		}
		for _, c := range s.Catch {
			for _, e := range c.ErrorEquals {
				known(fmt.Sprintf("%q Catch", name), e)
			}
		}
		if e, ok := s.Parameters["Error"].(string); ok && s.Type == "Pass" {
			known(fmt.Sprintf("%q builds", name), e)
		}
		if s.Type == "Fail" {
			known(fmt.Sprintf("%q fails with", name), s.Error)
		}
	}
	for _, c := range deploy.Codes() {
		if c.Retryable() && len(retried[string(c)]) == 0 {
			errs = append(errs, fmt.Errorf("%s is retryable in Go but no task retries it", c))
		}
	}
	for _, name := range d.tasks() {
		s := d.States[name]
		if !slices.Contains(retried[string(deploy.Throttled)], name) {
			errs = append(errs, fmt.Errorf("task %q does not retry Throttled", name))
		}
		for _, e := range knownLambdaErrors[:5] {
			if !slices.Contains(retried[e], name) {
				errs = append(errs, fmt.Errorf("task %q does not retry %s (the AWS-recommended Lambda retry)", name, e))
			}
		}
		rollbackTask := len(s.Catch) == 0 && s.Next != "" && d.States[s.Next].Type == "Fail" && d.States[s.Next].Error == string(deploy.RolledBack)
		switch {
		case name == d.StartAt:
			if len(s.Catch) != 0 {
				errs = append(errs, fmt.Errorf("task %q (Preflight) must not catch: nothing moved yet, its error is the execution's", name))
			}
		case rollbackTask:
		default:
			ok := len(s.Catch) > 0
			if ok {
				last := s.Catch[len(s.Catch)-1]
				ok = slices.Equal(last.ErrorEquals, []string{"States.ALL"}) && last.ResultPath == "$.error" &&
					d.States[last.Next].Type == "Task" && d.States[d.States[last.Next].Next].Error == string(deploy.RolledBack)
			}
			if !ok {
				errs = append(errs, fmt.Errorf("task %q does not catch States.ALL (ResultPath $.error) into the rollback", name))
			}
		}
	}
	return joinErrs(errs)
}

// checkContracts: every Task's Payload sends only fields its function's Go
// input type has (the functions decode strictly); every ResultSelector
// copies fields of the function's Go output type, all of them when the
// result is passed whole to another function; and every scenario fixture a
// Task returns decodes strictly into that output type.
func checkContracts(t *testing.T, a artefacts) error {
	tmpl := loadTemplate(t, a)
	d, _ := loadASL(t, a)
	var errs []error
	passedWhole := map[string]bool{}
	for _, name := range d.tasks() {
		payload, _ := d.States[name].Parameters["Payload"].(map[string]any)
		for _, v := range payload {
			if s, ok := v.(string); ok {
				passedWhole[s] = true
			}
		}
	}
	fnOf := map[string]string{}
	for _, name := range d.tasks() {
		s := d.States[name]
		id, err := functionOf(tmpl, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("task %q: %w", name, err))
			continue
		}
		fnOf[name] = id
		c, ok := contracts[id]
		if !ok {
			errs = append(errs, fmt.Errorf("task %q: no Go payload types for %s", name, id))
			continue
		}
		in, out := fieldsOf(c.in), fieldsOf(c.out)
		payload, _ := s.Parameters["Payload"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(payload)) {
			if f := strings.TrimSuffix(k, ".$"); !slices.Contains(in, f) {
				errs = append(errs, fmt.Errorf("task %q sends %q, which %s's input %T does not have (it decodes strictly)", name, f, id, c.in))
			}
		}
		var selected []string
		for _, k := range slices.Sorted(maps.Keys(s.ResultSelector)) {
			f := strings.TrimSuffix(k, ".$")
			selected = append(selected, f)
			if s.ResultSelector[k] != "$.Payload."+f {
				errs = append(errs, fmt.Errorf("task %q: ResultSelector %q = %v, want $.Payload.%s", name, k, s.ResultSelector[k], f))
			}
			if !slices.Contains(out, f) {
				errs = append(errs, fmt.Errorf("task %q selects %q, which %s's output %T does not have", name, f, id, c.out))
			}
		}
		if rp := s.ResultPath; rp != nil && passedWhole[*rp] && !slices.Equal(selected, out) {
			errs = append(errs, fmt.Errorf("task %q: %s is passed whole to functions, so its ResultSelector must copy every field of %T: has %v, want %v", name, *rp, c.out, selected, out))
		}
	}
	table, err := scenario.Load(a.path(scenariosFile))
	if err != nil {
		return err
	}
	for _, sc := range table.Scenarios {
		for _, state := range slices.Sorted(maps.Keys(sc.Tasks)) {
			c, ok := contracts[fnOf[state]]
			if !ok {
				continue
			}
			for i, call := range sc.Tasks[state] {
				if call.Throws != nil {
					continue
				}
				out := reflect.New(reflect.TypeOf(c.out)).Interface()
				if err := deploy.DecodeStrict(table.Output(call), out); err != nil {
					errs = append(errs, fmt.Errorf("scenario %q: %s call %d returns what %T cannot be: %v", sc.Name, state, i+1, c.out, err))
					continue
				}
				if v := outputValidators[fnOf[state]]; v != nil {
					if err := v(out); err != nil {
						errs = append(errs, fmt.Errorf("scenario %q: %s call %d returns an invalid %T: %v", sc.Name, state, i+1, c.out, err))
					}
				}
			}
		}
	}
	return joinErrs(errs)
}

// checkScenarios executes the definition with aws-local-stepfunctions on
// every scenario of the table and judges the traces.
func checkScenarios(t *testing.T, a artefacts) error {
	nodeModules(t)
	root := repoRoot(t)
	tmpl := loadTemplate(t, a)
	d, _ := loadASL(t, a)
	table, err := scenario.Load(a.path(scenariosFile))
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range d.tasks() {
		id, err := functionOf(tmpl, d.States[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("task %q: %w", name, err))
		} else if table.Tasks[name] != id {
			errs = append(errs, fmt.Errorf("scenarios.json: tasks[%q] is %q, but the definition invokes %s", name, table.Tasks[name], id))
		}
	}
	for name := range table.Tasks {
		if d.States[name].Type != "Task" {
			errs = append(errs, fmt.Errorf("scenarios.json: tasks names %q, which is not a Task state", name))
		}
	}
	subs := map[string]string{}
	for k, v := range samtemplate.Path(stateMachine(tmpl).Properties, "DefinitionSubstitutions").(map[string]any) {
		ga, _ := samtemplate.Path(v, "Fn::GetAtt").([]any)
		if len(ga) == 2 {
			subs[k] = "arn:aws:lambda:eu-west-1:123456789012:function:" + ga[0].(string)
		}
	}
	resolved, err := json.Marshal(table.Resolve(subs))
	if err != nil {
		return err
	}
	file := filepath.Join(t.TempDir(), "scenarios.resolved.json")
	if err := os.WriteFile(file, resolved, 0o644); err != nil {
		return err
	}
	out, err := run(t, string(root), "node", root.path(runnerFile), a.path(aslFile), file)
	if err != nil {
		return fmt.Errorf("aws-local-stepfunctions: %v\n%s", err, out)
	}
	var traces []scenario.Trace
	if err := json.Unmarshal([]byte(out), &traces); err != nil {
		return fmt.Errorf("runner output: %v\n%s", err, out)
	}
	if len(traces) != len(table.Scenarios) {
		return fmt.Errorf("%d traces for %d scenarios", len(traces), len(table.Scenarios))
	}
	functionID := func(arn string) string {
		return strings.TrimPrefix(arn, "arn:aws:lambda:eu-west-1:123456789012:function:")
	}
	for i, sc := range table.Scenarios {
		if diffs := table.Check(sc, traces[i], functionID); len(diffs) > 0 {
			errs = append(errs, fmt.Errorf("scenario %q:\n  %s", sc.Name, strings.Join(diffs, "\n  ")))
		} else {
			t.Logf("scenario %q: %d states, %s", sc.Name, len(traces[i].States), traces[i].Status)
		}
	}
	return joinErrs(errs)
}
