package infra_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/lab/monitoring"
	"github.com/relayshift/relayshift/internal/lab/stack"
	"github.com/relayshift/relayshift/internal/samtemplate"
	"github.com/relayshift/relayshift/internal/stackoutputs"
)

// checkCfnLint runs cfn-lint (SAM-aware) on both templates: no errors and
// no warnings.
func checkCfnLint(t *testing.T, a artefacts) error {
	bin := tool(t, "cfn-lint", "the definition tier lints template.yaml and infra/relay.yaml with cfn-lint (pip install cfn-lint; this project's machines ship 1.51.0)")
	out, err := run(t, string(a), bin, templateFile, relayFile)
	if err != nil {
		return fmt.Errorf("cfn-lint %s %s: %v\n%s", templateFile, relayFile, err, out)
	}
	return nil
}

// unscopable lists the actions AWS authorizes only on "*" (service
// authorization reference: no resource types). Only they may be granted on
// "*".
var unscopable = []string{
	"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
	"elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTargetHealth",
	"cloudwatch:GetMetricData",
	"ecs:DescribeTaskDefinition",
}

// checkIAM: each function's policy grants exactly the IAM actions
// functions.All() declares for it (nothing missing, nothing extra), only
// unscopable actions on "*", no policy document of a function or state
// machine can be empty, and the template has no function the registry does
// not know.
func checkIAM(t *testing.T, a artefacts) error {
	tmpl := loadTemplate(t, a)
	var errs []error
	for _, typ := range []string{"AWS::Serverless::Function", "AWS::Serverless::StateMachine"} {
		for _, r := range tmpl.OfType(typ) {
			errs = append(errs, emptyPolicyDocuments(r)...)
		}
	}
	known := map[string]bool{}
	for _, f := range functions.All() {
		known[f.LogicalID] = true
		r, ok := tmpl.Resources[f.LogicalID]
		if !ok || r.Type != "AWS::Serverless::Function" {
			errs = append(errs, fmt.Errorf("%s (%s) is not an AWS::Serverless::Function of the template", f.LogicalID, f.Name))
			continue
		}
		stmts, err := tmpl.Statements(f.LogicalID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		granted := samtemplate.Actions(stmts)
		want := slices.Sorted(slices.Values(f.IAMActions))
		for _, act := range want {
			if !slices.Contains(granted, act) {
				errs = append(errs, fmt.Errorf("%s: its code calls %s, which its policy does not grant", f.LogicalID, act))
			}
		}
		for _, act := range granted {
			if !slices.Contains(want, act) {
				errs = append(errs, fmt.Errorf("%s: its policy grants %s, which its code never calls", f.LogicalID, act))
			}
		}
		for _, s := range stmts {
			if s.Effect != "Allow" {
				errs = append(errs, fmt.Errorf("%s: statement %s: only Allow statements are expected", f.LogicalID, s.Sid))
			}
			if len(s.Resources) == 0 {
				errs = append(errs, fmt.Errorf("%s: statement %s has no Resource", f.LogicalID, s.Sid))
			}
			if slices.Contains(s.Resources, any("*")) {
				for _, act := range s.Actions {
					if !slices.Contains(unscopable, act) {
						errs = append(errs, fmt.Errorf("%s: statement %s grants %s on \"*\", but AWS can scope it to a resource", f.LogicalID, s.Sid, act))
					}
				}
			}
		}
	}
	for _, r := range tmpl.OfType("AWS::Serverless::Function") {
		if !known[r.LogicalID] {
			errs = append(errs, fmt.Errorf("%s is in the template but not in functions.All()", r.LogicalID))
		}
	}
	return joinErrs(errs)
}

// emptyPolicyDocuments reports every inline policy document of r that can
// deploy with an empty Statement list: one whose statements are all
// conditional (Fn::If with AWS::NoValue), unless the document itself is
// conditional on the same condition. IAM rejects a policy without
// statements (MalformedPolicyDocument), so such a document fails the
// deployment whenever its conditions are false; wrap the whole document in
// the !If instead (the function then has no policy at all). A conditional
// document must also drop out (AWS::NoValue) when its condition is false:
// the other checks read only its true branch.
func emptyPolicyDocuments(r samtemplate.Resource) []error {
	var errs []error
	items, _ := r.Properties["Policies"].([]any)
	for i, item := range items {
		docCond := ""
		if f, ok := samtemplate.Path(item, "Fn::If").([]any); ok && len(f) == 3 {
			docCond, _ = f[0].(string)
			if !isNoValue(f[2]) {
				errs = append(errs, fmt.Errorf("%s: Policies[%d] is conditional on %s but its other branch is not AWS::NoValue", r.LogicalID, i, docCond))
			}
			item = f[1]
		}
		stmts, _ := samtemplate.Path(item, "Statement").([]any)
		unconditional := false
		var conds []string
		for _, s := range stmts {
			f, ok := samtemplate.Path(s, "Fn::If").([]any)
			if !ok || len(f) != 3 {
				unconditional = true
				break
			}
			cond, _ := f[0].(string)
			if cond == docCond && !isNoValue(f[1]) {
				unconditional = true // present whenever its document is
				break
			}
			conds = append(conds, cond)
		}
		switch {
		case unconditional:
		case len(conds) == 0:
			errs = append(errs, fmt.Errorf("%s: Policies[%d] has no statement, which IAM rejects (MalformedPolicyDocument)", r.LogicalID, i))
		default:
			errs = append(errs, fmt.Errorf("%s: Policies[%d] has no unconditional statement: with %s false its Statement list is empty, which IAM rejects (MalformedPolicyDocument); make the whole document conditional (!If [condition, {Statement: [...]}, !Ref AWS::NoValue])",
				r.LogicalID, i, strings.Join(slices.Compact(slices.Sorted(slices.Values(conds))), ", ")))
		}
	}
	return errs
}

func isNoValue(v any) bool { return samtemplate.Path(v, "Ref") == "AWS::NoValue" }

// Sample values to resolve the alarms with.
const (
	sampleListener = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2"
	sampleBlueTG   = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/relay-blue/73e2d6bc24d8a067"
	sampleGreenTG  = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/relay-green/1f2e3d4c5b6a7980"
	samplePrefix   = "sample-prefix-"
)

// checkAlarms: both colours have the three alarms, resolved as the local
// lab resolves them (internal/lab/stack) and valid as the lab's CloudWatch
// creates them (PutMetricAlarm's rules, the metric-math expression
// included), in the regular shape — the Metrics form, named
// ${AlarmPrefix}<colour>-<kind>, DatapointsToAlarm set — each watching its
// own colour's target group with the dimensions CloudWatch publishes
// (LoadBalancer app/<name>/<id> plus TargetGroup targetgroup/<name>/<id>);
// the rollback function's rule matches the prefix and ALARM, with a retry
// policy and a dead-letter queue.
func checkAlarms(t *testing.T, a artefacts) error {
	tmpl := loadTemplate(t, a)
	params := map[string]string{"ListenerArn": sampleListener, "BlueTargetGroupArn": sampleBlueTG, "GreenTargetGroupArn": sampleGreenTG, "AlarmPrefix": samplePrefix}
	for name, p := range tmpl.Parameters {
		if _, ok := params[name]; !ok && p.Default != nil {
			params[name] = *p.Default
		}
	}
	s := &stack.Stack{T: tmpl, Params: params, Region: "eu-west-1", AccountID: "123456789012", StackName: "relayshift"}
	alarms, err := s.Alarms()
	if err != nil {
		return err
	}
	var errs []error
	wantTG := map[string]string{"blue": "targetgroup/relay-blue/73e2d6bc24d8a067", "green": "targetgroup/relay-green/1f2e3d4c5b6a7980"}
	seen := map[string]bool{}
	for _, al := range alarms {
		var spec monitoring.AlarmSpec
		if err := al.Decode(&spec); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := spec.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: the lab's CloudWatch refuses it: %w", al.LogicalID, err))
		}
		suffix, ok := strings.CutPrefix(spec.AlarmName, samplePrefix)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: name %q does not start with the AlarmPrefix parameter (the rollback rule matches it)", al.LogicalID, spec.AlarmName))
			continue
		}
		seen[suffix] = true
		colour, _, _ := strings.Cut(suffix, "-")
		if wantTG[colour] == "" {
			errs = append(errs, fmt.Errorf("%s: name suffix %q does not start with a colour", al.LogicalID, suffix))
			continue
		}
		if len(spec.Metrics) == 0 {
			errs = append(errs, fmt.Errorf("%s: use the Metrics form", al.LogicalID))
		}
		if spec.DatapointsToAlarm == 0 {
			errs = append(errs, fmt.Errorf("%s: DatapointsToAlarm is not set", al.LogicalID))
		}
		for _, m := range spec.Metrics {
			if m.MetricStat == nil {
				continue
			}
			metric := m.MetricStat.Metric
			if metric.Namespace != "AWS/ApplicationELB" {
				errs = append(errs, fmt.Errorf("%s: metric %s in namespace %q", al.LogicalID, m.ID, metric.Namespace))
			}
			dims := map[string]string{}
			for _, d := range metric.Dimensions {
				dims[d.Name] = d.Value
			}
			if lb := dims["LoadBalancer"]; lb != "app/relay/50dc6c495c0c9188" {
				errs = append(errs, fmt.Errorf("%s: metric %s: LoadBalancer dimension = %q, want app/<name>/<id> of the listener's load balancer", al.LogicalID, m.ID, lb))
			}
			if tg := dims["TargetGroup"]; tg != wantTG[colour] {
				errs = append(errs, fmt.Errorf("%s: metric %s: TargetGroup dimension = %q, want the %s target group's %s", al.LogicalID, m.ID, tg, colour, wantTG[colour]))
			}
			if len(metric.Dimensions) != 2 || len(dims) != 2 {
				errs = append(errs, fmt.Errorf("%s: metric %s has dimensions %v, want LoadBalancer and TargetGroup", al.LogicalID, m.ID, slices.Sorted(maps.Keys(dims))))
			}
		}
	}
	for _, colour := range []string{"blue", "green"} {
		for _, kind := range []string{"5xx-rate", "p99-latency", "unhealthy-hosts"} {
			if !seen[colour+"-"+kind] {
				errs = append(errs, fmt.Errorf("no alarm ${AlarmPrefix}%s-%s", colour, kind))
			}
		}
	}

	rules := tmpl.EventBridgeRules("RollbackFunction")
	if len(rules) != 1 {
		errs = append(errs, fmt.Errorf("RollbackFunction has %d EventBridgeRule events, want 1", len(rules)))
	}
	wantPattern := map[string]any{
		"source":      []any{"aws.cloudwatch"},
		"detail-type": []any{"CloudWatch Alarm State Change"},
		"detail": map[string]any{
			"alarmName": []any{map[string]any{"prefix": map[string]any{"Ref": "AlarmPrefix"}}},
			"state":     map[string]any{"value": []any{"ALARM"}},
		},
	}
	for name, r := range rules {
		if !reflect.DeepEqual(r["Pattern"], wantPattern) {
			errs = append(errs, fmt.Errorf("RollbackFunction event %s: pattern %v, want %v", name, r["Pattern"], wantPattern))
		}
		if r["RetryPolicy"] == nil || r["DeadLetterConfig"] == nil {
			errs = append(errs, fmt.Errorf("RollbackFunction event %s needs a RetryPolicy and a DeadLetterConfig", name))
		}
	}
	if len(tmpl.OfType("AWS::CloudWatch::Dashboard")) != 1 {
		errs = append(errs, fmt.Errorf("want one CloudWatch dashboard"))
	}
	return joinErrs(errs)
}

// checkConfiguration: every RELAYSHIFT_* variable internal/functions reads
// is set by the template from a parameter and documented in the README;
// every function is built by the Makefile's build-<LogicalId> rule and logs
// to a log group with a retention; the outputs the CLI discovers exist.
func checkConfiguration(t *testing.T, a artefacts) error {
	tmpl := loadTemplate(t, a)
	var errs []error
	var src []byte
	goFiles, err := filepath.Glob(a.path("internal/functions/*.go"))
	if err != nil || len(goFiles) == 0 {
		return fmt.Errorf("no Go files in internal/functions (%v)", err)
	}
	for _, f := range goFiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		src = append(src, b...)
	}
	readme, err := os.ReadFile(a.path("README.md"))
	if err != nil {
		return err
	}
	makefile, err := os.ReadFile(a.path("Makefile"))
	if err != nil {
		return err
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`"(RELAYSHIFT_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		vars[m[1]] = true
	}
	set := map[string]bool{}
	for _, r := range tmpl.OfType("AWS::Serverless::Function") {
		for k, v := range tmpl.FunctionEnvironment(r.LogicalID) {
			if !strings.HasPrefix(k, "RELAYSHIFT_") {
				continue
			}
			set[k] = true
			if !vars[k] {
				errs = append(errs, fmt.Errorf("%s sets %s, which internal/functions does not read", r.LogicalID, k))
			}
			if ref, ok := samtemplate.Path(v, "Ref").(string); ok {
				if _, isParam := tmpl.Parameters[ref]; !isParam {
					errs = append(errs, fmt.Errorf("%s: %s refers to %s, which is not a parameter", r.LogicalID, k, ref))
				}
			} else if samtemplate.Path(v, "Fn::Sub") == nil && samtemplate.Path(v, "Fn::If") == nil {
				errs = append(errs, fmt.Errorf("%s: %s is a literal: configuration values come from parameters", r.LogicalID, k))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if !set[k] {
			errs = append(errs, fmt.Errorf("internal/functions reads %s, which no function of the template sets", k))
		}
		if !strings.Contains(string(readme), "`"+k+"`") {
			errs = append(errs, fmt.Errorf("README.md does not document %s", k))
		}
	}
	fnList := regexp.MustCompile(`(?m)^FUNCTIONS\s*:=\s*(.*)$`).FindStringSubmatch(string(makefile))
	for _, f := range functions.All() {
		if strings.ToLower(strings.TrimSuffix(f.LogicalID, "Function")) != f.Name {
			errs = append(errs, fmt.Errorf("%s: the Makefile's build-%%Function rule would build functions/%s, not functions/%s", f.LogicalID, strings.ToLower(strings.TrimSuffix(f.LogicalID, "Function")), f.Name))
		}
		if fnList == nil || !slices.Contains(strings.Fields(fnList[1]), f.Name) {
			errs = append(errs, fmt.Errorf("the Makefile's FUNCTIONS list lacks %s", f.Name))
		}
		r := tmpl.Resources[f.LogicalID]
		if samtemplate.Path(r.Metadata, "BuildMethod") != "makefile" {
			errs = append(errs, fmt.Errorf("%s: Metadata.BuildMethod must be makefile", f.LogicalID))
		}
		lg, _ := samtemplate.Path(r.Properties, "LoggingConfig", "LogGroup", "Ref").(string)
		if g := tmpl.Resources[lg]; g.Type != "AWS::Logs::LogGroup" || g.Properties["RetentionInDays"] == nil {
			errs = append(errs, fmt.Errorf("%s: LoggingConfig.LogGroup must be a log group of the template with a retention", f.LogicalID))
		}
	}
	for _, o := range stackoutputs.Keys() {
		if _, ok := tmpl.Outputs[o]; !ok {
			errs = append(errs, fmt.Errorf("template.yaml has no output %s (the CLI discovers it from the stack)", o))
		}
	}
	// Outputs for people (the README points to them).
	for _, o := range []string{"StateMachineConsoleUrl", "AlarmPrefix", "DashboardUrl"} {
		if _, ok := tmpl.Outputs[o]; !ok {
			errs = append(errs, fmt.Errorf("template.yaml has no output %s (the README points to it)", o))
		}
	}
	return joinErrs(errs)
}
