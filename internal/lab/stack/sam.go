package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/relayshift/relayshift/internal/lab/eventbus"
	"github.com/relayshift/relayshift/internal/samtemplate"
)

// Stack is a template deployed as StackName: its resources get the names
// and ARNs such a deployment would have, and intrinsics resolve against
// them.
type Stack struct {
	T *samtemplate.Template
	// Params are the bound parameter values (samtemplate.Template.Bind).
	Params                                  map[string]string
	Region, AccountID, StackName, Partition string
}

func (s *Stack) partition() string {
	if s.Partition == "" {
		return "aws"
	}
	return s.Partition
}

// nameProp resolves a resource's name property, or returns the default
// "<stack>-<logicalID>".
func (s *Stack) nameProp(id, prop string) (string, error) {
	if v, ok := s.T.Resources[id].Properties[prop]; ok {
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
	if _, ok := s.T.Resources[id]; !ok {
		return "", fmt.Errorf("no resource %s", id)
	}
	return s.nameProp(id, "FunctionName")
}

func (s *Stack) arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", s.partition(), service, s.Region, s.AccountID, resource)
}

// ref returns what Ref of a resource gives (its name, ARN, URL...).
func (s *Stack) ref(id string) (string, error) {
	switch s.T.Resources[id].Type {
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		return s.FunctionName(id)
	case "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine":
		name, err := s.nameProp(id, "Name")
		if err != nil {
			return "", err
		}
		return s.arn("states", "stateMachine:"+name), nil
	case "AWS::CloudWatch::Alarm":
		return s.nameProp(id, "AlarmName")
	case "AWS::CloudWatch::Dashboard":
		return s.nameProp(id, "DashboardName")
	case "AWS::Logs::LogGroup":
		return s.nameProp(id, "LogGroupName")
	case "AWS::SQS::Queue":
		name, err := s.nameProp(id, "QueueName")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", s.Region, s.AccountID, name), nil
	}
	return id, nil
}

// getAtt returns a resource attribute.
func (s *Stack) getAtt(id, attr string) (string, error) {
	typ := s.T.Resources[id].Type
	switch {
	case (typ == "AWS::Serverless::Function" || typ == "AWS::Lambda::Function") && attr == "Arn":
		name, err := s.FunctionName(id)
		return s.arn("lambda", "function:"+name), err
	case strings.HasSuffix(typ, "::StateMachine") && attr == "Arn":
		return s.ref(id)
	case strings.HasSuffix(typ, "::StateMachine") && attr == "Name":
		return s.nameProp(id, "Name")
	case typ == "AWS::CloudWatch::Alarm" && attr == "Arn":
		name, err := s.nameProp(id, "AlarmName")
		return s.arn("cloudwatch", "alarm:"+name), err
	case typ == "AWS::Logs::LogGroup" && attr == "Arn":
		name, err := s.nameProp(id, "LogGroupName")
		return s.arn("logs", "log-group:"+name+":*"), err
	case typ == "AWS::SQS::Queue" && attr == "Arn":
		name, err := s.nameProp(id, "QueueName")
		return s.arn("sqs", name), err
	case typ == "AWS::SQS::Queue" && attr == "QueueName":
		return s.nameProp(id, "QueueName")
	}
	return "", fmt.Errorf("Fn::GetAtt %s.%s (%s) is not known to the relayshift lab", id, attr, typ)
}

// included returns the logical ids of the resources of a type the stack
// creates (their Condition holds), sorted.
func (s *Stack) included(typ string) ([]string, error) {
	var out []string
	for _, r := range s.T.OfType(typ) {
		ok, err := s.Included(r.LogicalID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r.LogicalID)
		}
	}
	return out, nil
}

// Function is a function resource as the lab runs it.
type Function struct {
	LogicalID string
	Name      string
	// Env is the function's environment: Globals' variables overlaid with
	// its own, resolved.
	Env map[string]string
	// Timeout is the function's timeout in seconds (its own, else
	// Globals', else 3, as CloudFormation's default).
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
	// RetryPolicy is the target's retry policy (unset fields:
	// EventBridge's defaults).
	RetryPolicy eventbus.RetryPolicy
}

// intOf reads a whole number the template gives as a number or a string
// (a Ref to a parameter).
func intOf(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case float64:
		if x == float64(int(x)) {
			return int(x), nil
		}
	case string:
		return strconv.Atoi(x)
	}
	return 0, fmt.Errorf("%v is not a whole number", v)
}

// optionalInt resolves v, when set, to a whole number.
func (s *Stack) optionalInt(v any) (*int, error) {
	if v == nil {
		return nil, nil
	}
	rv, err := s.Resolve(v)
	if err != nil {
		return nil, err
	}
	n, err := intOf(rv)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// Functions returns the serverless functions the stack creates, sorted by
// logical id.
func (s *Stack) Functions() ([]Function, error) {
	ids, err := s.included("AWS::Serverless::Function")
	if err != nil {
		return nil, err
	}
	var out []Function
	for _, id := range ids {
		name, err := s.FunctionName(id)
		if err != nil {
			return nil, err
		}
		f := Function{LogicalID: id, Name: name, Env: map[string]string{}, Timeout: 3}
		timeout, err := s.optionalInt(s.T.FunctionProperty(id, "Timeout"))
		if err != nil {
			return nil, fmt.Errorf("%s.Timeout: %w", id, err)
		}
		if timeout != nil {
			f.Timeout = *timeout
		}
		resolved, err := s.Resolve(s.T.FunctionEnvironment(id))
		if err != nil {
			return nil, fmt.Errorf("%s: Environment: %w", id, err)
		}
		m, _ := resolved.(map[string]any)
		for k, v := range m {
			f.Env[k] = scalarString(v)
		}
		events := s.T.EventBridgeRules(id)
		for _, en := range slices.Sorted(maps.Keys(events)) {
			props := events[en]
			if b, ok := props["EventBusName"]; ok && b != "default" {
				return nil, fmt.Errorf("%s.Events.%s: only the default event bus is supported by the lab", id, en)
			}
			p, err := s.Resolve(props["Pattern"])
			if err != nil {
				return nil, fmt.Errorf("%s.Events.%s.Pattern: %w", id, en, err)
			}
			pm, ok := p.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s.Events.%s: no Pattern", id, en)
			}
			rule := EventRule{Name: en, Pattern: pm}
			rp := samtemplate.Path(props, "RetryPolicy")
			if rule.RetryPolicy.MaximumRetryAttempts, err = s.optionalInt(samtemplate.Path(rp, "MaximumRetryAttempts")); err != nil {
				return nil, fmt.Errorf("%s.Events.%s.RetryPolicy.MaximumRetryAttempts: %w", id, en, err)
			}
			if rule.RetryPolicy.MaximumEventAgeInSeconds, err = s.optionalInt(samtemplate.Path(rp, "MaximumEventAgeInSeconds")); err != nil {
				return nil, fmt.Errorf("%s.Events.%s.RetryPolicy.MaximumEventAgeInSeconds: %w", id, en, err)
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
	ids, err := s.included("AWS::Serverless::StateMachine")
	if err != nil {
		return nil, err
	}
	var out []StateMachine
	for _, id := range ids {
		r := s.T.Resources[id]
		name, err := s.nameProp(id, "Name")
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
		subs, err := s.Resolve(r.Properties["DefinitionSubstitutions"])
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

// Decode decodes the alarm's properties — PutMetricAlarm's names — into v
// (the lab's monitoring.AlarmSpec), as the lab creates the alarm.
func (a Alarm) Decode(v any) error {
	b, err := json.Marshal(a.Properties)
	if err != nil {
		return fmt.Errorf("alarm %s: %w", a.LogicalID, err)
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		return fmt.Errorf("alarm %s: %w", a.LogicalID, err)
	}
	return nil
}

// numericAlarmFields are the alarm properties CloudWatch takes as numbers;
// a Ref to a Number parameter gives a string, which CloudFormation
// converts, and so does the lab.
var numericAlarmFields = []string{"Threshold", "Period", "EvaluationPeriods", "DatapointsToAlarm"}

// Alarms returns the CloudWatch alarms the stack creates, sorted by
// logical id, with numeric fields as numbers.
func (s *Stack) Alarms() ([]Alarm, error) {
	ids, err := s.included("AWS::CloudWatch::Alarm")
	if err != nil {
		return nil, err
	}
	var out []Alarm
	for _, id := range ids {
		rv, err := s.Resolve(s.T.Resources[id].Properties)
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
