package stack

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Stack gives the template's resources the names and ARNs a deployment of
// it as StackName would have, and resolves intrinsics against them.
type Stack struct {
	T *Template
	// Params are the bound parameter values (Template.Bind).
	Params                                  map[string]string
	Region, AccountID, StackName, Partition string
}

// Env returns the resolution environment of the stack.
func (s *Stack) Env() Env {
	return Env{Params: s.Params, Region: s.Region, AccountID: s.AccountID, StackName: s.StackName, Partition: s.Partition,
		Ref: s.ref, GetAtt: s.getAtt}
}

func (s *Stack) partition() string {
	if s.Partition == "" {
		return "aws"
	}
	return s.Partition
}

// Resolve resolves v in the stack.
func (s *Stack) Resolve(v any) (any, error) { return s.T.Resolve(v, s.Env()) }

// nameProp resolves a resource's name property, or returns the default
// "<stack>-<logicalID>".
func (s *Stack) nameProp(id string, r Resource, prop string) (string, error) {
	if v, ok := r.Properties[prop]; ok {
		rv, err := s.Resolve(v)
		if err != nil {
			return "", fmt.Errorf("%s.%s: %w", id, prop, err)
		}
		if name, ok := rv.(string); ok && name != "" {
			return name, nil
		}
	}
	return s.StackName + "-" + id, nil
}

// FunctionName returns the deployed name of a function resource.
// NOTE: SAM names an unnamed function "<stack>-<LogicalId>-<random>"; the
// lab leaves out the random suffix.
func (s *Stack) FunctionName(id string) (string, error) {
	r, ok := s.T.Resources[id]
	if !ok {
		return "", fmt.Errorf("no resource %s", id)
	}
	return s.nameProp(id, r, "FunctionName")
}

func (s *Stack) arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", s.partition(), service, s.Region, s.AccountID, resource)
}

func (s *Stack) ref(id string, r Resource) (string, error) {
	switch r.Type {
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		return s.FunctionName(id)
	case "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine":
		name, err := s.nameProp(id, r, "Name")
		if err != nil {
			return "", err
		}
		return s.arn("states", "stateMachine:"+name), nil
	case "AWS::CloudWatch::Alarm":
		return s.nameProp(id, r, "AlarmName")
	case "AWS::CloudWatch::Dashboard":
		return s.nameProp(id, r, "DashboardName")
	case "AWS::Logs::LogGroup":
		return s.nameProp(id, r, "LogGroupName")
	case "AWS::SQS::Queue":
		name, err := s.nameProp(id, r, "QueueName")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", s.Region, s.AccountID, name), nil
	}
	return id, nil
}

func (s *Stack) getAtt(id string, r Resource, attr string) (string, error) {
	switch {
	case (r.Type == "AWS::Serverless::Function" || r.Type == "AWS::Lambda::Function") && attr == "Arn":
		name, err := s.FunctionName(id)
		return s.arn("lambda", "function:"+name), err
	case strings.HasSuffix(r.Type, "::StateMachine") && attr == "Arn":
		return s.ref(id, r)
	case strings.HasSuffix(r.Type, "::StateMachine") && attr == "Name":
		return s.nameProp(id, r, "Name")
	case r.Type == "AWS::CloudWatch::Alarm" && attr == "Arn":
		name, err := s.nameProp(id, r, "AlarmName")
		return s.arn("cloudwatch", "alarm:"+name), err
	case r.Type == "AWS::Logs::LogGroup" && attr == "Arn":
		name, err := s.nameProp(id, r, "LogGroupName")
		return s.arn("logs", "log-group:"+name+":*"), err
	case r.Type == "AWS::SQS::Queue" && attr == "Arn":
		name, err := s.nameProp(id, r, "QueueName")
		return s.arn("sqs", name), err
	case r.Type == "AWS::SQS::Queue" && attr == "QueueName":
		return s.nameProp(id, r, "QueueName")
	}
	return "", fmt.Errorf("Fn::GetAtt %s.%s (%s) is not known to the relayshift lab", id, attr, r.Type)
}

// Function is a function resource as the lab runs it.
type Function struct {
	LogicalID string
	Name      string
	// Env is the function's environment: Globals' variables overlaid with
	// its own, resolved.
	Env map[string]string
	// Timeout is the function's timeout in seconds (default 3, as
	// CloudFormation's).
	Timeout int
	// Rules are its EventBridgeRule (and CloudWatchEvent) events.
	Rules []EventRule
}

// EventRule is an EventBridge rule targeting a function.
type EventRule struct {
	// Name is the event's key in the function's Events.
	Name string
	// Pattern is the resolved event pattern.
	Pattern map[string]any
	// MaximumRetryAttempts and MaximumEventAgeInSeconds are the target's
	// retry policy (nil: EventBridge's defaults, 185 and 86400).
	MaximumRetryAttempts     *int
	MaximumEventAgeInSeconds *int
}

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case float64:
		return int(x), true
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

// Functions returns the serverless functions the stack creates, sorted by
// logical id.
func (s *Stack) Functions() ([]Function, error) {
	env := s.Env()
	globalFn, _ := s.T.Globals["Function"].(map[string]any)
	var out []Function
	for _, id := range s.T.ResourcesOfType("AWS::Serverless::Function") {
		if ok, err := s.T.Included(id, env); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		r := s.T.Resources[id]
		name, err := s.FunctionName(id)
		if err != nil {
			return nil, err
		}
		f := Function{LogicalID: id, Name: name, Env: map[string]string{}, Timeout: 3}
		for _, props := range []map[string]any{globalFn, r.Properties} {
			if t, ok := asInt(props["Timeout"]); ok {
				f.Timeout = t
			}
			envProp, _ := props["Environment"].(map[string]any)
			vars, _ := envProp["Variables"].(map[string]any)
			resolved, err := s.T.Resolve(vars, env)
			if err != nil {
				return nil, fmt.Errorf("%s: Environment: %w", id, err)
			}
			m, _ := resolved.(map[string]any)
			for k, v := range m {
				f.Env[k] = scalarString(v)
			}
		}
		events, _ := r.Properties["Events"].(map[string]any)
		for _, en := range slices.Sorted(maps.Keys(events)) {
			ev, _ := events[en].(map[string]any)
			typ := str(ev["Type"])
			if typ != "EventBridgeRule" && typ != "CloudWatchEvent" {
				continue
			}
			props, _ := ev["Properties"].(map[string]any)
			if b, ok := props["EventBusName"]; ok && b != "default" {
				return nil, fmt.Errorf("%s.Events.%s: only the default event bus is supported by the lab", id, en)
			}
			p, err := s.T.Resolve(props["Pattern"], env)
			if err != nil {
				return nil, fmt.Errorf("%s.Events.%s.Pattern: %w", id, en, err)
			}
			pm, ok := p.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s.Events.%s: no Pattern", id, en)
			}
			rule := EventRule{Name: en, Pattern: pm}
			rp, _ := props["RetryPolicy"].(map[string]any)
			if n, ok := asInt(rp["MaximumRetryAttempts"]); ok {
				rule.MaximumRetryAttempts = &n
			}
			if n, ok := asInt(rp["MaximumEventAgeInSeconds"]); ok {
				rule.MaximumEventAgeInSeconds = &n
			}
			f.Rules = append(f.Rules, rule)
		}
		out = append(out, f)
	}
	return out, nil
}

// StateMachine is a state machine resource.
type StateMachine struct {
	LogicalID string
	Name      string
	ARN       string
	// Definition is the ASL document: the file DefinitionUri names (read
	// relative to the template), or the inline Definition.
	Definition []byte
	// DefinitionPath is the file it came from ("" when inline).
	DefinitionPath string
	// Substitutions are the resolved DefinitionSubstitutions.
	Substitutions map[string]string
}

// StateMachines returns the state machines the stack creates.
func (s *Stack) StateMachines(read func(path string) ([]byte, error)) ([]StateMachine, error) {
	env := s.Env()
	var out []StateMachine
	for _, id := range s.T.ResourcesOfType("AWS::Serverless::StateMachine") {
		if ok, err := s.T.Included(id, env); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		r := s.T.Resources[id]
		name, err := s.nameProp(id, r, "Name")
		if err != nil {
			return nil, err
		}
		sm := StateMachine{LogicalID: id, Name: name, ARN: s.arn("states", "stateMachine:"+name), Substitutions: map[string]string{}}
		switch {
		case r.Properties["DefinitionUri"] != nil:
			uri, ok := r.Properties["DefinitionUri"].(string)
			if !ok {
				return nil, fmt.Errorf("%s.DefinitionUri: the lab reads a local file path only", id)
			}
			sm.DefinitionPath = filepath.Join(s.T.Dir, uri)
			if sm.Definition, err = read(sm.DefinitionPath); err != nil {
				return nil, fmt.Errorf("%s.DefinitionUri: %w", id, err)
			}
		case r.Properties["Definition"] != nil:
			if sm.Definition, err = json.Marshal(r.Properties["Definition"]); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: no DefinitionUri or Definition", id)
		}
		subs, err := s.T.Resolve(r.Properties["DefinitionSubstitutions"], env)
		if err != nil {
			return nil, fmt.Errorf("%s.DefinitionSubstitutions: %w", id, err)
		}
		m, _ := subs.(map[string]any)
		for k, v := range m {
			sm.Substitutions[k] = scalarString(v)
		}
		out = append(out, sm)
	}
	return out, nil
}

// Alarm is an alarm resource with its properties resolved.
type Alarm struct {
	LogicalID  string
	Properties map[string]any
}

// numericAlarmFields are the alarm properties CloudWatch takes as numbers;
// a Ref to a Number parameter gives a string, which CloudFormation
// converts, and so does the lab.
var numericAlarmFields = []string{"Threshold", "Period", "EvaluationPeriods", "DatapointsToAlarm"}

// Alarms returns the CloudWatch alarms the stack creates, with numeric
// fields as numbers.
func (s *Stack) Alarms() ([]Alarm, error) {
	env := s.Env()
	var out []Alarm
	for _, id := range s.T.ResourcesOfType("AWS::CloudWatch::Alarm") {
		if ok, err := s.T.Included(id, env); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		rv, err := s.T.Resolve(s.T.Resources[id].Properties, env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		props, _ := rv.(map[string]any)
		if _, ok := props["AlarmName"]; !ok {
			props["AlarmName"] = s.StackName + "-" + id
		}
		numeric(props)
		out = append(out, Alarm{LogicalID: id, Properties: props})
	}
	return out, nil
}

// numeric converts numeric-looking strings of the numeric alarm fields, at
// any depth (MetricStat.Period included).
func numeric(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && slices.Contains(numericAlarmFields, k) {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					x[k] = f
				}
			}
			numeric(e)
		}
	case []any:
		for _, e := range x {
			numeric(e)
		}
	}
}

// ParametersFromEnvironment maps RELAYSHIFT_* values to the template's
// parameters through the functions' environment: a variable set to
// !Ref <Parameter> (in Globals or a function) gives that parameter the
// value. This way the lab needs no list of parameter names.
func (t *Template) ParametersFromEnvironment(values map[string]string) map[string]string {
	out := map[string]string{}
	collect := func(fn map[string]any) {
		envProp, _ := fn["Environment"].(map[string]any)
		vars, _ := envProp["Variables"].(map[string]any)
		for k, v := range vars {
			m, ok := v.(map[string]any)
			if !ok || len(m) != 1 {
				continue
			}
			p, ok := m["Ref"].(string)
			if !ok {
				continue
			}
			if _, isParam := t.Parameters[p]; !isParam {
				continue
			}
			if val, ok := values[k]; ok {
				out[p] = val
			}
		}
	}
	if g, ok := t.Globals["Function"].(map[string]any); ok {
		collect(g)
	}
	for _, id := range t.ResourcesOfType("AWS::Serverless::Function") {
		collect(t.Resources[id].Properties)
	}
	return out
}
