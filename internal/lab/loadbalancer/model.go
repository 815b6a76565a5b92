package loadbalancer

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Action types the lab's data plane executes.
const (
	ActionForward       = "forward"
	ActionFixedResponse = "fixed-response"
	ActionRedirect      = "redirect"
)

// Action is one action of a listener's default actions or of a rule, with
// ELBv2's fields (types.Action).
type Action struct {
	Type string
	// Order is the action's order; 0 when the request gave none (Describe
	// then reports the position, 1-based).
	Order int
	// TargetGroupARN is the single-group shorthand of a forward action.
	TargetGroupARN string
	Forward        *ForwardConfig
	FixedResponse  *FixedResponse
	Redirect       *Redirect
}

// ForwardConfig is a weighted forward action (types.ForwardActionConfig).
type ForwardConfig struct {
	TargetGroups []WeightedTargetGroup
	// Stickiness is kept exactly as sent; nil when the request had none.
	Stickiness *Stickiness
}

// WeightedTargetGroup is types.TargetGroupTuple; a nil Weight was not sent.
type WeightedTargetGroup struct {
	ARN    string
	Weight *int
}

// Stickiness is types.TargetGroupStickinessConfig, fields nil when not sent.
type Stickiness struct {
	Enabled         *bool
	DurationSeconds *int
}

// FixedResponse is types.FixedResponseActionConfig.
type FixedResponse struct {
	StatusCode  string
	ContentType string
	MessageBody string
}

// Redirect is types.RedirectActionConfig. Empty fields keep the request's
// value ("#{host}" and friends are the ELBv2 defaults).
type Redirect struct {
	StatusCode string // HTTP_301 or HTTP_302
	Protocol   string
	Host       string
	Port       string
	Path       string
	Query      string
}

// Condition is one rule condition (types.RuleCondition). Values is the
// legacy form; the *Values fields are the typed configs.
type Condition struct {
	Field             string
	Values            []string
	HostHeaderValues  []string
	PathPatternValues []string
	HTTPHeaderName    string
	HTTPHeaderValues  []string
	MethodValues      []string
	QueryStringValues []QueryValue
	SourceIPValues    []string
}

// QueryValue is one key/value pattern of a query-string condition; an
// empty Key matches any key.
type QueryValue struct{ Key, Value string }

// Rule is a listener rule. The default rule (IsDefault) mirrors the
// listener's default actions.
type Rule struct {
	ARN        string
	Priority   int
	IsDefault  bool
	Conditions []Condition
	Actions    []Action
}

// PriorityString is the rule's priority as ELBv2 reports it ("default" for
// the default rule).
func (r Rule) PriorityString() string {
	if r.IsDefault {
		return "default"
	}
	return strconv.Itoa(r.Priority)
}

// Error codes of the ELBv2 API (the awsQueryError codes of the SDK's error
// shapes).
const (
	CodeValidation          = "ValidationError"
	CodeListenerNotFound    = "ListenerNotFound"
	CodeRuleNotFound        = "RuleNotFound"
	CodeTargetGroupNotFound = "TargetGroupNotFound"
	CodeLoadBalancerNotFnd  = "LoadBalancerNotFound"
	CodeInvalidAction       = "InvalidLoadBalancerAction"
	CodeTooManyTargetGroups = "TooManyTargetGroups"
	CodeTooManyActions      = "TooManyActions"
	CodeTooManyTags         = "TooManyTags"
	CodeDuplicateTagKeys    = "DuplicateTagKeys"
	CodeOperationNotAllowed = "OperationNotPermitted"
	CodeInvalidTarget       = "InvalidTarget"
	CodePriorityInUse       = "PriorityInUse"
)

// Error is an ELBv2 API error: the code the SDK maps to its exception type,
// and a message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Limits ELBv2 documents (quotas for Application Load Balancers).
const (
	maxWeight             = 999
	maxTargetGroupsPerFwd = 5
	maxStickinessSeconds  = 604800
	maxTagsPerResource    = 50
	maxActionsPerList     = 5
)

// validateActions checks an action list as ModifyListener/ModifyRule do.
// path is the request member ("defaultActions" or "actions") used in
// validation messages, shaped like AWS's.
func (lb *LoadBalancer) validateActions(path string, acts []Action) *Error {
	if len(acts) == 0 {
		return errorf(CodeValidation, "1 validation error detected: Value '[]' at '%s' failed to satisfy constraint: Member must have length greater than or equal to 1", path)
	}
	if len(acts) > maxActionsPerList {
		return errorf(CodeTooManyActions, "You have reached the maximum number of actions (%d) per rule", maxActionsPerList)
	}
	terminal := 0
	orders := map[int]bool{}
	for i, a := range acts {
		at := fmt.Sprintf("%s.%d.member", path, i+1)
		switch a.Type {
		case ActionForward, ActionFixedResponse, ActionRedirect:
			terminal++
		case "":
			return errorf(CodeValidation, "1 validation error detected: Value null at '%s.type' failed to satisfy constraint: Member must not be null", at)
		case "authenticate-oidc", "authenticate-cognito", "jwt-validation":
			return errorf(CodeInvalidAction, "action type '%s' is not supported by the relayshift lab", a.Type)
		default:
			return errorf(CodeValidation, "1 validation error detected: Value '%s' at '%s.type' failed to satisfy constraint: Member must satisfy enum value set: [forward, authenticate-oidc, authenticate-cognito, redirect, fixed-response, jwt-validation]", a.Type, at)
		}
		if a.Order != 0 {
			if a.Order < 1 || a.Order > 50000 {
				return errorf(CodeValidation, "1 validation error detected: Value '%d' at '%s.order' failed to satisfy constraint: Member must have value between 1 and 50000", a.Order, at)
			}
			if orders[a.Order] {
				return errorf(CodeInvalidAction, "Action order '%d' is specified more than once", a.Order)
			}
			orders[a.Order] = true
		}
		if err := lb.validateAction(at, a); err != nil {
			return err
		}
	}
	if terminal != 1 {
		return errorf(CodeInvalidAction, "exactly one forward, redirect or fixed-response action must be specified, got %d", terminal)
	}
	return nil
}

func (lb *LoadBalancer) validateAction(at string, a Action) *Error {
	switch a.Type {
	case ActionForward:
		if a.Forward == nil && a.TargetGroupARN == "" {
			return errorf(CodeValidation, "A target group ARN or a forward configuration must be specified for a forward action")
		}
		if a.Forward == nil {
			if _, ok := lb.targetGroups[a.TargetGroupARN]; !ok {
				return errorf(CodeTargetGroupNotFound, "Target group '%s' not found", a.TargetGroupARN)
			}
			return nil
		}
		f := a.Forward
		if len(f.TargetGroups) == 0 {
			return errorf(CodeValidation, "1 validation error detected: Value '[]' at '%s.forwardConfig.targetGroups' failed to satisfy constraint: Member must have length greater than or equal to 1", at)
		}
		if len(f.TargetGroups) > maxTargetGroupsPerFwd {
			return errorf(CodeTooManyTargetGroups, "You have reached the maximum number of target groups (%d) per forward action", maxTargetGroupsPerFwd)
		}
		// NOTE: TargetGroupArn and a ForwardConfig may be sent together only
		// when the forward config names exactly that one group (ELBv2 Action
		// reference).
		if a.TargetGroupARN != "" && (len(f.TargetGroups) != 1 || f.TargetGroups[0].ARN != a.TargetGroupARN) {
			return errorf(CodeValidation, "You cannot specify both a target group ARN and a forward configuration with different target groups")
		}
		seen := map[string]bool{}
		for j, tg := range f.TargetGroups {
			tat := fmt.Sprintf("%s.forwardConfig.targetGroups.%d.member", at, j+1)
			if tg.ARN == "" {
				return errorf(CodeValidation, "1 validation error detected: Value null at '%s.targetGroupArn' failed to satisfy constraint: Member must not be null", tat)
			}
			if seen[tg.ARN] {
				return errorf(CodeValidation, "Target group '%s' is specified more than once in the forward configuration", tg.ARN)
			}
			seen[tg.ARN] = true
			if _, ok := lb.targetGroups[tg.ARN]; !ok {
				return errorf(CodeTargetGroupNotFound, "Target group '%s' not found", tg.ARN)
			}
			if tg.Weight == nil {
				if len(f.TargetGroups) > 1 {
					return errorf(CodeValidation, "A weight must be specified for each target group when a forward action has more than one target group")
				}
				continue
			}
			if *tg.Weight < 0 {
				return errorf(CodeValidation, "1 validation error detected: Value '%d' at '%s.weight' failed to satisfy constraint: Member must have value greater than or equal to 0", *tg.Weight, tat)
			}
			if *tg.Weight > maxWeight {
				return errorf(CodeValidation, "1 validation error detected: Value '%d' at '%s.weight' failed to satisfy constraint: Member must have value less than or equal to %d", *tg.Weight, tat, maxWeight)
			}
		}
		if s := f.Stickiness; s != nil && s.Enabled != nil && *s.Enabled {
			if s.DurationSeconds == nil {
				return errorf(CodeValidation, "A stickiness duration must be specified when target group stickiness is enabled")
			}
			if d := *s.DurationSeconds; d < 1 || d > maxStickinessSeconds {
				return errorf(CodeValidation, "Target group stickiness duration must be between 1 and %d seconds", maxStickinessSeconds)
			}
		}
	case ActionFixedResponse:
		fr := a.FixedResponse
		if fr == nil {
			return errorf(CodeValidation, "A fixed response configuration must be specified for a fixed-response action")
		}
		if code, err := strconv.Atoi(fr.StatusCode); err != nil || code < 200 || code > 599 || (code >= 300 && code < 400) {
			return errorf(CodeValidation, "1 validation error detected: Value '%s' at '%s.fixedResponseConfig.statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$", fr.StatusCode, at)
		}
		switch fr.ContentType {
		case "", "text/plain", "text/css", "text/html", "application/javascript", "application/json":
		default:
			return errorf(CodeValidation, "Content type '%s' is not valid for a fixed response", fr.ContentType)
		}
	case ActionRedirect:
		r := a.Redirect
		if r == nil {
			return errorf(CodeValidation, "A redirect configuration must be specified for a redirect action")
		}
		if r.StatusCode != "HTTP_301" && r.StatusCode != "HTTP_302" {
			return errorf(CodeValidation, "1 validation error detected: Value '%s' at '%s.redirectConfig.statusCode' failed to satisfy constraint: Member must satisfy enum value set: [HTTP_301, HTTP_302]", r.StatusCode, at)
		}
	}
	return nil
}

var conditionFields = []string{"path-pattern", "host-header", "http-header", "http-request-method", "query-string", "source-ip"}

// validateConditions checks a rule's conditions.
func validateConditions(conds []Condition) *Error {
	for i, c := range conds {
		if !slices.Contains(conditionFields, c.Field) {
			return errorf(CodeValidation, "Condition field '%s' at position %d is not valid; use one of %s", c.Field, i+1, strings.Join(conditionFields, ", "))
		}
		if len(c.values()) == 0 && len(c.QueryStringValues) == 0 {
			return errorf(CodeValidation, "Condition '%s' must have at least one value", c.Field)
		}
		if c.Field == "http-header" && c.HTTPHeaderName == "" {
			return errorf(CodeValidation, "An HTTP header name must be specified for an http-header condition")
		}
		if c.Field == "source-ip" {
			for _, v := range c.values() {
				if _, err := netip.ParsePrefix(v); err != nil {
					return errorf(CodeValidation, "'%s' is not a valid CIDR block", v)
				}
			}
		}
	}
	return nil
}

// values returns the condition's patterns from whichever form was sent.
func (c Condition) values() []string {
	switch c.Field {
	case "path-pattern":
		if len(c.PathPatternValues) > 0 {
			return c.PathPatternValues
		}
	case "host-header":
		if len(c.HostHeaderValues) > 0 {
			return c.HostHeaderValues
		}
	case "http-header":
		return c.HTTPHeaderValues
	case "http-request-method":
		if len(c.MethodValues) > 0 {
			return c.MethodValues
		}
	case "source-ip":
		if len(c.SourceIPValues) > 0 {
			return c.SourceIPValues
		}
	case "query-string":
		return nil
	}
	return c.Values
}

// matches reports whether the request described by m satisfies c.
func (c Condition) matches(m requestFacts) bool {
	switch c.Field {
	case "path-pattern":
		return anyGlob(c.values(), m.path, false)
	case "host-header":
		host := m.host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return anyGlob(c.values(), host, true)
	case "http-header":
		for _, v := range m.header.Values(c.HTTPHeaderName) {
			if anyGlob(c.values(), v, true) {
				return true
			}
		}
		return false
	case "http-request-method":
		return slices.Contains(c.values(), m.method)
	case "query-string":
		for _, qv := range c.QueryStringValues {
			for k, vs := range m.query {
				if qv.Key != "" && !glob(strings.ToLower(qv.Key), strings.ToLower(k)) {
					continue
				}
				for _, v := range vs {
					if glob(strings.ToLower(qv.Value), strings.ToLower(v)) {
						return true
					}
				}
			}
		}
		return false
	case "source-ip":
		ip, err := netip.ParseAddr(m.sourceIP)
		if err != nil {
			return false
		}
		for _, v := range c.values() {
			if p, err := netip.ParsePrefix(v); err == nil && p.Contains(ip.Unmap()) {
				return true
			}
		}
		return false
	}
	return false
}

func anyGlob(patterns []string, s string, fold bool) bool {
	if fold {
		s = strings.ToLower(s)
	}
	for _, p := range patterns {
		if fold {
			p = strings.ToLower(p)
		}
		if glob(p, s) {
			return true
		}
	}
	return false
}

// glob matches ELBv2 condition wildcards: * (any run) and ? (one byte).
func glob(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if glob(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

// cloneActions deep-copies an action list, so snapshots never share
// mutable state with callers.
func cloneActions(in []Action) []Action {
	out := make([]Action, len(in))
	for i, a := range in {
		if a.Forward != nil {
			f := *a.Forward
			f.TargetGroups = make([]WeightedTargetGroup, len(a.Forward.TargetGroups))
			for j, tg := range a.Forward.TargetGroups {
				f.TargetGroups[j] = WeightedTargetGroup{ARN: tg.ARN, Weight: clonePtr(tg.Weight)}
			}
			if s := a.Forward.Stickiness; s != nil {
				f.Stickiness = &Stickiness{Enabled: clonePtr(s.Enabled), DurationSeconds: clonePtr(s.DurationSeconds)}
			}
			a.Forward = &f
		}
		if a.FixedResponse != nil {
			fr := *a.FixedResponse
			a.FixedResponse = &fr
		}
		if a.Redirect != nil {
			r := *a.Redirect
			a.Redirect = &r
		}
		out[i] = a
	}
	return out
}

func cloneConditions(in []Condition) []Condition {
	out := make([]Condition, len(in))
	for i, c := range in {
		c.Values = slices.Clone(c.Values)
		c.HostHeaderValues = slices.Clone(c.HostHeaderValues)
		c.PathPatternValues = slices.Clone(c.PathPatternValues)
		c.HTTPHeaderValues = slices.Clone(c.HTTPHeaderValues)
		c.MethodValues = slices.Clone(c.MethodValues)
		c.QueryStringValues = slices.Clone(c.QueryStringValues)
		c.SourceIPValues = slices.Clone(c.SourceIPValues)
		out[i] = c
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// describeActions returns the actions as ELBv2's Describe* reports them:
// orders filled in by position, and a forward action with one target group
// carrying both the top-level TargetGroupArn and a ForwardConfig with that
// group at weight 1 unless a weight was sent.
// NOTE: that dual shape is what AWS returns for single-group forwards
// (AWS-FACTS.md, ELBv2); with several groups only ForwardConfig is set.
func describeActions(in []Action) []Action {
	out := cloneActions(in)
	for i := range out {
		a := &out[i]
		if a.Order == 0 {
			a.Order = i + 1
		}
		if a.Type != ActionForward {
			continue
		}
		if a.Forward == nil {
			one := 1
			a.Forward = &ForwardConfig{TargetGroups: []WeightedTargetGroup{{ARN: a.TargetGroupARN, Weight: &one}}}
		}
		if a.Forward.Stickiness == nil {
			no := false
			a.Forward.Stickiness = &Stickiness{Enabled: &no}
		}
		for j := range a.Forward.TargetGroups {
			if a.Forward.TargetGroups[j].Weight == nil {
				one := 1
				a.Forward.TargetGroups[j].Weight = &one
			}
		}
		if len(a.Forward.TargetGroups) == 1 {
			a.TargetGroupARN = a.Forward.TargetGroups[0].ARN
		} else {
			a.TargetGroupARN = ""
		}
	}
	return out
}

// describeConditions fills the typed config from the legacy Values form (and
// the reverse for path and host), as ELBv2's DescribeRules does.
func describeConditions(in []Condition) []Condition {
	out := cloneConditions(in)
	for i := range out {
		c := &out[i]
		switch c.Field {
		case "path-pattern":
			if len(c.PathPatternValues) == 0 {
				c.PathPatternValues = slices.Clone(c.Values)
			}
			if len(c.Values) == 0 {
				c.Values = slices.Clone(c.PathPatternValues)
			}
		case "host-header":
			if len(c.HostHeaderValues) == 0 {
				c.HostHeaderValues = slices.Clone(c.Values)
			}
			if len(c.Values) == 0 {
				c.Values = slices.Clone(c.HostHeaderValues)
			}
		case "http-request-method":
			if len(c.MethodValues) == 0 {
				c.MethodValues = slices.Clone(c.Values)
			}
		case "source-ip":
			if len(c.SourceIPValues) == 0 {
				c.SourceIPValues = slices.Clone(c.Values)
			}
		}
	}
	return out
}
