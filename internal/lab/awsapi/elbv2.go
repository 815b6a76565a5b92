package awsapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/lab/loadbalancer"

	"github.com/relayshift/relayshift/internal/lab/uuid"
)

// elbNamespace is the XML namespace of ELBv2 responses.
const elbNamespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"

// ELB serves the ELBv2 API (awsQuery, version 2015-12-01) over a lab load
// balancer: what the SDK's elasticloadbalancingv2 client sends, answered
// with the XML its deserializers read.
type ELB struct {
	LB  *loadbalancer.LoadBalancer
	Log *slog.Logger
	// VPCID is reported for the load balancer and target groups.
	VPCID string
	// Created is the load balancer's creation time.
	Created time.Time
}

type elbOp func(f form) (any, error)

func (e *ELB) ops() map[string]elbOp {
	return map[string]elbOp{
		"DescribeLoadBalancers": e.describeLoadBalancers,
		"DescribeListeners":     e.describeListeners,
		"DescribeRules":         e.describeRules,
		"ModifyListener":        e.modifyListener,
		"ModifyRule":            e.modifyRule,
		"DescribeTargetGroups":  e.describeTargetGroups,
		"DescribeTargetHealth":  e.describeTargetHealth,
		"RegisterTargets":       e.registerTargets,
		"DeregisterTargets":     e.deregisterTargets,
		"DescribeTags":          e.describeTags,
		"AddTags":               e.addTags,
		"RemoveTags":            e.removeTags,
	}
}

func (e *ELB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := uuid.New()
	w.Header().Set("X-Amzn-Requestid", reqID)
	if err := r.ParseForm(); err != nil {
		writeQueryError(w, elbNamespace, reqID, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	f := form{r.PostForm}
	action := f.Get("Action")
	op, ok := e.ops()[action]
	if !ok {
		writeQueryError(w, elbNamespace, reqID, http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("The action %s is not valid for this web service (the relayshift lab serves %s).", action, strings.Join(sortedKeys(e.ops()), ", ")))
		return
	}
	if v := f.Get("Version"); v != "2015-12-01" {
		writeQueryError(w, elbNamespace, reqID, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Version %q is not 2015-12-01", v))
		return
	}
	result, err := op(f)
	if err != nil {
		var le *loadbalancer.Error
		if errors.As(err, &le) {
			e.log().Info("ELBv2 error", "action", action, "code", le.Code, "message", le.Message)
			writeQueryError(w, elbNamespace, reqID, http.StatusBadRequest, le.Code, le.Message)
			return
		}
		e.log().Error("ELBv2 internal error", "action", action, "error", err)
		writeQueryError(w, elbNamespace, reqID, http.StatusInternalServerError, "InternalFailure", "internal error")
		return
	}
	writeQueryResult(w, elbNamespace, reqID, action, result)
}

func (e *ELB) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// writeQueryResult writes <ActionResponse><ActionResult>...</ActionResult>
// <ResponseMetadata><RequestId/></ResponseMetadata></ActionResponse>.
func writeQueryResult(w http.ResponseWriter, ns, reqID, action string, result any) {
	var inner bytes.Buffer
	enc := xml.NewEncoder(&inner)
	if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
		writeQueryError(w, ns, reqID, http.StatusInternalServerError, "InternalFailure", "encode response")
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
		action, ns, inner.String(), reqID, action)
}

// writeQueryError writes the awsQuery error shape:
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>.
func writeQueryError(w http.ResponseWriter, ns, reqID string, status int, code, message string) {
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	var msg bytes.Buffer
	xml.EscapeText(&msg, []byte(message))
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		ns, fault, code, msg.String(), reqID)
}

func validation(format string, args ...any) error {
	return &loadbalancer.Error{Code: loadbalancer.CodeValidation, Message: fmt.Sprintf(format, args...)}
}

// ---- request parsing ----

func (f form) intp(key string) (*int, error) {
	s, ok := f.str(key)
	if !ok {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be an integer", s, key)
	}
	return &n, nil
}

func (f form) boolp(key string) (*bool, error) {
	s, ok := f.str(key)
	if !ok {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean", s, key)
	}
	return &b, nil
}

func (f form) actions(prefix string) ([]loadbalancer.Action, bool, error) {
	ms, sent := f.members(prefix)
	if !sent {
		return nil, false, nil
	}
	out := []loadbalancer.Action{}
	for _, p := range ms {
		var a loadbalancer.Action
		a.Type, _ = f.str(p + ".Type")
		a.TargetGroupARN, _ = f.str(p + ".TargetGroupArn")
		order, err := f.intp(p + ".Order")
		if err != nil {
			return nil, true, err
		}
		if order != nil {
			a.Order = *order
		}
		if fp := p + ".ForwardConfig"; f.has(fp) {
			fc := &loadbalancer.ForwardConfig{}
			tms, _ := f.members(fp + ".TargetGroups")
			for _, tp := range tms {
				arn, _ := f.str(tp + ".TargetGroupArn")
				w, err := f.intp(tp + ".Weight")
				if err != nil {
					return nil, true, err
				}
				fc.TargetGroups = append(fc.TargetGroups, loadbalancer.WeightedTargetGroup{ARN: arn, Weight: w})
			}
			if sp := fp + ".TargetGroupStickinessConfig"; f.has(sp) {
				st := &loadbalancer.Stickiness{}
				if st.Enabled, err = f.boolp(sp + ".Enabled"); err != nil {
					return nil, true, err
				}
				if st.DurationSeconds, err = f.intp(sp + ".DurationSeconds"); err != nil {
					return nil, true, err
				}
				fc.Stickiness = st
			}
			a.Forward = fc
		}
		if fp := p + ".FixedResponseConfig"; f.has(fp) {
			fr := &loadbalancer.FixedResponse{}
			fr.StatusCode, _ = f.str(fp + ".StatusCode")
			fr.ContentType, _ = f.str(fp + ".ContentType")
			fr.MessageBody, _ = f.str(fp + ".MessageBody")
			a.FixedResponse = fr
		}
		if rp := p + ".RedirectConfig"; f.has(rp) {
			rd := &loadbalancer.Redirect{}
			rd.StatusCode, _ = f.str(rp + ".StatusCode")
			rd.Protocol, _ = f.str(rp + ".Protocol")
			rd.Host, _ = f.str(rp + ".Host")
			rd.Port, _ = f.str(rp + ".Port")
			rd.Path, _ = f.str(rp + ".Path")
			rd.Query, _ = f.str(rp + ".Query")
			a.Redirect = rd
		}
		out = append(out, a)
	}
	return out, true, nil
}

func (f form) conditions(prefix string) ([]loadbalancer.Condition, bool) {
	ms, sent := f.members(prefix)
	if !sent {
		return nil, false
	}
	out := []loadbalancer.Condition{}
	for _, p := range ms {
		var c loadbalancer.Condition
		c.Field, _ = f.str(p + ".Field")
		c.Values, _ = f.strings(p + ".Values")
		c.HostHeaderValues, _ = f.strings(p + ".HostHeaderConfig.Values")
		c.PathPatternValues, _ = f.strings(p + ".PathPatternConfig.Values")
		c.HTTPHeaderName, _ = f.str(p + ".HttpHeaderConfig.HttpHeaderName")
		c.HTTPHeaderValues, _ = f.strings(p + ".HttpHeaderConfig.Values")
		c.MethodValues, _ = f.strings(p + ".HttpRequestMethodConfig.Values")
		c.SourceIPValues, _ = f.strings(p + ".SourceIpConfig.Values")
		qms, _ := f.members(p + ".QueryStringConfig.Values")
		for _, qp := range qms {
			k, _ := f.str(qp + ".Key")
			v, _ := f.str(qp + ".Value")
			c.QueryStringValues = append(c.QueryStringValues, loadbalancer.QueryValue{Key: k, Value: v})
		}
		out = append(out, c)
	}
	return out, true
}

// ---- response shapes (the SDK's member names) ----

type xmlStrings []string

func (s xmlStrings) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, v := range s {
		if err := e.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: "member"}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

type xTuple struct {
	TargetGroupArn string `xml:"TargetGroupArn"`
	Weight         *int   `xml:"Weight,omitempty"`
}

type xStickiness struct {
	Enabled         *bool `xml:"Enabled,omitempty"`
	DurationSeconds *int  `xml:"DurationSeconds,omitempty"`
}

type xForward struct {
	TargetGroups                []xTuple     `xml:"TargetGroups>member"`
	TargetGroupStickinessConfig *xStickiness `xml:"TargetGroupStickinessConfig,omitempty"`
}

type xFixed struct {
	StatusCode  string `xml:"StatusCode"`
	ContentType string `xml:"ContentType,omitempty"`
	MessageBody string `xml:"MessageBody,omitempty"`
}

type xRedirect struct {
	StatusCode string `xml:"StatusCode"`
	Protocol   string `xml:"Protocol,omitempty"`
	Host       string `xml:"Host,omitempty"`
	Port       string `xml:"Port,omitempty"`
	Path       string `xml:"Path,omitempty"`
	Query      string `xml:"Query,omitempty"`
}

type xAction struct {
	Type                string     `xml:"Type"`
	Order               int        `xml:"Order,omitempty"`
	TargetGroupArn      string     `xml:"TargetGroupArn,omitempty"`
	ForwardConfig       *xForward  `xml:"ForwardConfig,omitempty"`
	FixedResponseConfig *xFixed    `xml:"FixedResponseConfig,omitempty"`
	RedirectConfig      *xRedirect `xml:"RedirectConfig,omitempty"`
}

func toXActions(acts []loadbalancer.Action) []xAction {
	out := make([]xAction, 0, len(acts))
	for _, a := range acts {
		x := xAction{Type: a.Type, Order: a.Order, TargetGroupArn: a.TargetGroupARN}
		if fc := a.Forward; fc != nil {
			xf := &xForward{}
			for _, tg := range fc.TargetGroups {
				xf.TargetGroups = append(xf.TargetGroups, xTuple{TargetGroupArn: tg.ARN, Weight: tg.Weight})
			}
			if st := fc.Stickiness; st != nil {
				xf.TargetGroupStickinessConfig = &xStickiness{Enabled: st.Enabled, DurationSeconds: st.DurationSeconds}
			}
			x.ForwardConfig = xf
		}
		if fr := a.FixedResponse; fr != nil {
			x.FixedResponseConfig = &xFixed{StatusCode: fr.StatusCode, ContentType: fr.ContentType, MessageBody: fr.MessageBody}
		}
		if rd := a.Redirect; rd != nil {
			x.RedirectConfig = &xRedirect{StatusCode: rd.StatusCode, Protocol: rd.Protocol, Host: rd.Host, Port: rd.Port, Path: rd.Path, Query: rd.Query}
		}
		out = append(out, x)
	}
	return out
}

type xValues struct {
	Values xmlStrings `xml:"Values"`
}

type xHeader struct {
	HTTPHeaderName string     `xml:"HttpHeaderName"`
	Values         xmlStrings `xml:"Values"`
}

type xQueryValue struct {
	Key   string `xml:"Key,omitempty"`
	Value string `xml:"Value"`
}

type xQuery struct {
	Values []xQueryValue `xml:"Values>member"`
}

type xCondition struct {
	Field                   string     `xml:"Field"`
	Values                  xmlStrings `xml:"Values,omitempty"`
	HostHeaderConfig        *xValues   `xml:"HostHeaderConfig,omitempty"`
	PathPatternConfig       *xValues   `xml:"PathPatternConfig,omitempty"`
	HTTPHeaderConfig        *xHeader   `xml:"HttpHeaderConfig,omitempty"`
	HTTPRequestMethodConfig *xValues   `xml:"HttpRequestMethodConfig,omitempty"`
	QueryStringConfig       *xQuery    `xml:"QueryStringConfig,omitempty"`
	SourceIPConfig          *xValues   `xml:"SourceIpConfig,omitempty"`
}

func values(v []string) *xValues {
	if len(v) == 0 {
		return nil
	}
	return &xValues{Values: v}
}

func toXConditions(cs []loadbalancer.Condition) []xCondition {
	out := make([]xCondition, 0, len(cs))
	for _, c := range cs {
		x := xCondition{Field: c.Field, Values: c.Values, HostHeaderConfig: values(c.HostHeaderValues), PathPatternConfig: values(c.PathPatternValues),
			HTTPRequestMethodConfig: values(c.MethodValues), SourceIPConfig: values(c.SourceIPValues)}
		if c.Field == "http-header" {
			x.HTTPHeaderConfig = &xHeader{HTTPHeaderName: c.HTTPHeaderName, Values: c.HTTPHeaderValues}
		}
		if len(c.QueryStringValues) > 0 {
			q := &xQuery{}
			for _, kv := range c.QueryStringValues {
				q.Values = append(q.Values, xQueryValue(kv))
			}
			x.QueryStringConfig = q
		}
		out = append(out, x)
	}
	return out
}

type xListener struct {
	ListenerArn     string    `xml:"ListenerArn"`
	LoadBalancerArn string    `xml:"LoadBalancerArn"`
	Port            int       `xml:"Port"`
	Protocol        string    `xml:"Protocol"`
	DefaultActions  []xAction `xml:"DefaultActions>member"`
}

type xRule struct {
	RuleArn    string       `xml:"RuleArn"`
	Priority   string       `xml:"Priority"`
	Conditions []xCondition `xml:"Conditions>member"`
	Actions    []xAction    `xml:"Actions>member"`
	IsDefault  bool         `xml:"IsDefault"`
}

// ---- operations ----

func (e *ELB) describeLoadBalancers(f form) (any, error) {
	arns, _ := f.strings("LoadBalancerArns")
	names, _ := f.strings("Names")
	lb := e.LB
	for _, a := range arns {
		if a != lb.ARN() {
			return nil, &loadbalancer.Error{Code: loadbalancer.CodeLoadBalancerNotFnd, Message: fmt.Sprintf("Load balancers '[%s]' not found", a)}
		}
	}
	for _, n := range names {
		if n != lb.Name() {
			return nil, &loadbalancer.Error{Code: loadbalancer.CodeLoadBalancerNotFnd, Message: fmt.Sprintf("Load balancers '[%s]' not found", n)}
		}
	}
	type state struct {
		Code string `xml:"Code"`
	}
	type xLB struct {
		LoadBalancerArn       string     `xml:"LoadBalancerArn"`
		DNSName               string     `xml:"DNSName"`
		CanonicalHostedZoneID string     `xml:"CanonicalHostedZoneId"`
		CreatedTime           string     `xml:"CreatedTime"`
		LoadBalancerName      string     `xml:"LoadBalancerName"`
		Scheme                string     `xml:"Scheme"`
		VpcID                 string     `xml:"VpcId"`
		State                 state      `xml:"State"`
		Type                  string     `xml:"Type"`
		SecurityGroups        xmlStrings `xml:"SecurityGroups"`
		IPAddressType         string     `xml:"IpAddressType"`
	}
	dns := "localhost"
	if ls := lb.Listeners(); len(ls) > 0 {
		dns = strings.TrimPrefix(ls[0].URL(), "http://")
	}
	return struct {
		LoadBalancers []xLB `xml:"LoadBalancers>member"`
	}{[]xLB{{
		LoadBalancerArn: lb.ARN(), DNSName: dns, CanonicalHostedZoneID: "Z35SXDOTRQ7X7K",
		CreatedTime: e.Created.UTC().Format("2006-01-02T15:04:05.000Z"), LoadBalancerName: lb.Name(),
		Scheme: "internal", VpcID: e.VPCID, State: state{"active"}, Type: "application",
		SecurityGroups: xmlStrings{}, IPAddressType: "ipv4",
	}}}, nil
}

func (e *ELB) describeListeners(f form) (any, error) {
	arns, _ := f.strings("ListenerArns")
	lbARN, _ := f.str("LoadBalancerArn")
	if len(arns) == 0 && lbARN == "" {
		return nil, validation("You must specify either listener ARNs or a load balancer ARN")
	}
	if len(arns) > 0 && lbARN != "" {
		return nil, validation("Listener ARNs and a load balancer ARN cannot be specified at the same time")
	}
	var ls []*loadbalancer.Listener
	if lbARN != "" {
		if lbARN != e.LB.ARN() {
			return nil, &loadbalancer.Error{Code: loadbalancer.CodeLoadBalancerNotFnd, Message: fmt.Sprintf("Load balancer '%s' not found", lbARN)}
		}
		ls = e.LB.Listeners()
	}
	for _, a := range arns {
		l, err := e.LB.Listener(a)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	out := struct {
		Listeners []xListener `xml:"Listeners>member"`
	}{}
	for _, l := range ls {
		out.Listeners = append(out.Listeners, xListener{ListenerArn: l.ARN(), LoadBalancerArn: l.LoadBalancerARN(), Port: l.Port(), Protocol: "HTTP",
			DefaultActions: toXActions(l.DefaultActions())})
	}
	return out, nil
}

func (e *ELB) describeRules(f form) (any, error) {
	listener, _ := f.str("ListenerArn")
	arns, _ := f.strings("RuleArns")
	if listener == "" && len(arns) == 0 {
		return nil, validation("You must specify either listener ARN or rule ARNs")
	}
	var rules []loadbalancer.Rule
	if listener != "" {
		rs, err := e.LB.Rules(listener)
		if err != nil {
			return nil, err
		}
		rules = rs
	}
	for _, a := range arns {
		r, err := e.LB.Rule(a)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	out := struct {
		Rules []xRule `xml:"Rules>member"`
	}{}
	for _, r := range rules {
		out.Rules = append(out.Rules, xRule{RuleArn: r.ARN, Priority: r.PriorityString(), Conditions: toXConditions(r.Conditions), Actions: toXActions(r.Actions), IsDefault: r.IsDefault})
	}
	return out, nil
}

func (e *ELB) modifyListener(f form) (any, error) {
	arn, ok := f.str("ListenerArn")
	if !ok {
		return nil, validation("1 validation error detected: Value null at 'listenerArn' failed to satisfy constraint: Member must not be null")
	}
	l, err := e.LB.Listener(arn)
	if err != nil {
		return nil, err
	}
	for _, unsupported := range []string{"Port", "Protocol", "SslPolicy", "Certificates", "AlpnPolicy", "MutualAuthentication"} {
		if f.has(unsupported) {
			return nil, &loadbalancer.Error{Code: loadbalancer.CodeOperationNotAllowed, Message: fmt.Sprintf("the relayshift lab cannot change a listener's %s", unsupported)}
		}
	}
	acts, sent, err := f.actions("DefaultActions")
	if err != nil {
		return nil, err
	}
	if sent {
		if err := e.LB.ModifyListener(arn, acts); err != nil {
			return nil, err
		}
	}
	return struct {
		Listeners []xListener `xml:"Listeners>member"`
	}{[]xListener{{ListenerArn: l.ARN(), LoadBalancerArn: l.LoadBalancerARN(), Port: l.Port(), Protocol: "HTTP", DefaultActions: toXActions(l.DefaultActions())}}}, nil
}

func (e *ELB) modifyRule(f form) (any, error) {
	arn, ok := f.str("RuleArn")
	if !ok {
		return nil, validation("1 validation error detected: Value null at 'ruleArn' failed to satisfy constraint: Member must not be null")
	}
	acts, actsSent, err := f.actions("Actions")
	if err != nil {
		return nil, err
	}
	conds, condsSent := f.conditions("Conditions")
	var pa *[]loadbalancer.Action
	var pc *[]loadbalancer.Condition
	if actsSent {
		pa = &acts
	}
	if condsSent {
		pc = &conds
	}
	if err := e.LB.ModifyRule(arn, pc, pa); err != nil {
		return nil, err
	}
	r, err := e.LB.Rule(arn)
	if err != nil {
		return nil, err
	}
	return struct {
		Rules []xRule `xml:"Rules>member"`
	}{[]xRule{{RuleArn: r.ARN, Priority: r.PriorityString(), Conditions: toXConditions(r.Conditions), Actions: toXActions(r.Actions), IsDefault: r.IsDefault}}}, nil
}

type xMatcher struct {
	HTTPCode string `xml:"HttpCode"`
}

type xTargetGroup struct {
	TargetGroupArn             string     `xml:"TargetGroupArn"`
	TargetGroupName            string     `xml:"TargetGroupName"`
	Protocol                   string     `xml:"Protocol"`
	Port                       int        `xml:"Port"`
	VpcID                      string     `xml:"VpcId"`
	HealthCheckProtocol        string     `xml:"HealthCheckProtocol"`
	HealthCheckPort            string     `xml:"HealthCheckPort"`
	HealthCheckEnabled         bool       `xml:"HealthCheckEnabled"`
	HealthCheckIntervalSeconds int        `xml:"HealthCheckIntervalSeconds"`
	HealthCheckTimeoutSeconds  int        `xml:"HealthCheckTimeoutSeconds"`
	HealthyThresholdCount      int        `xml:"HealthyThresholdCount"`
	UnhealthyThresholdCount    int        `xml:"UnhealthyThresholdCount"`
	HealthCheckPath            string     `xml:"HealthCheckPath"`
	Matcher                    xMatcher   `xml:"Matcher"`
	LoadBalancerArns           xmlStrings `xml:"LoadBalancerArns"`
	TargetType                 string     `xml:"TargetType"`
	ProtocolVersion            string     `xml:"ProtocolVersion"`
	IPAddressType              string     `xml:"IpAddressType"`
}

// seconds reports a duration in whole seconds, at least 1 (the lab's
// sub-second health checks show as 1).
func seconds(d time.Duration) int { return max(1, int(d/time.Second)) }

func (e *ELB) describeTargetGroups(f form) (any, error) {
	arns, _ := f.strings("TargetGroupArns")
	names, _ := f.strings("Names")
	lbARN, _ := f.str("LoadBalancerArn")
	if n := btoi(len(arns) > 0) + btoi(len(names) > 0) + btoi(lbARN != ""); n > 1 {
		return nil, validation("Only one of load balancer ARN, target group ARNs or target group names can be specified")
	}
	var tgs []*loadbalancer.TargetGroup
	switch {
	case len(arns) > 0:
		for _, a := range arns {
			tg, err := e.LB.TargetGroup(a)
			if err != nil {
				return nil, &loadbalancer.Error{Code: loadbalancer.CodeTargetGroupNotFound, Message: "One or more target groups not found"}
			}
			tgs = append(tgs, tg)
		}
	case len(names) > 0:
		for _, n := range names {
			tg, err := e.LB.TargetGroupByName(n)
			if err != nil {
				return nil, err
			}
			tgs = append(tgs, tg)
		}
	case lbARN != "":
		if lbARN != e.LB.ARN() {
			return nil, &loadbalancer.Error{Code: loadbalancer.CodeLoadBalancerNotFnd, Message: fmt.Sprintf("Load balancer '%s' not found", lbARN)}
		}
		for _, tg := range e.LB.TargetGroups() {
			if len(e.LB.LoadBalancerARNs(tg.ARN())) > 0 {
				tgs = append(tgs, tg)
			}
		}
	default:
		tgs = e.LB.TargetGroups()
	}
	out := struct {
		TargetGroups []xTargetGroup `xml:"TargetGroups>member"`
	}{}
	for _, tg := range tgs {
		hc := tg.HealthCheck()
		out.TargetGroups = append(out.TargetGroups, xTargetGroup{
			TargetGroupArn: tg.ARN(), TargetGroupName: tg.Name(), Protocol: "HTTP", Port: 80, VpcID: e.VPCID,
			HealthCheckProtocol: "HTTP", HealthCheckPort: "traffic-port", HealthCheckEnabled: !hc.Disabled,
			HealthCheckIntervalSeconds: seconds(hc.Interval), HealthCheckTimeoutSeconds: seconds(hc.Timeout),
			HealthyThresholdCount: hc.HealthyThreshold, UnhealthyThresholdCount: hc.UnhealthyThreshold,
			HealthCheckPath: hc.Path, Matcher: xMatcher{hc.Matcher}, LoadBalancerArns: e.LB.LoadBalancerARNs(tg.ARN()),
			TargetType: "ip", ProtocolVersion: "HTTP1", IPAddressType: "ipv4",
		})
	}
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (e *ELB) describeTargetHealth(f form) (any, error) {
	arn, ok := f.str("TargetGroupArn")
	if !ok {
		return nil, validation("1 validation error detected: Value null at 'targetGroupArn' failed to satisfy constraint: Member must not be null")
	}
	tg, err := e.LB.TargetGroup(arn)
	if err != nil {
		return nil, err
	}
	type want struct{ id, port string }
	var only []want
	tms, _ := f.members("Targets")
	for _, p := range tms {
		id, _ := f.str(p + ".Id")
		port, _ := f.str(p + ".Port")
		only = append(only, want{id, port})
	}
	type xTarget struct {
		ID   string `xml:"Id"`
		Port int    `xml:"Port"`
	}
	type xHealth struct {
		State       string `xml:"State"`
		Reason      string `xml:"Reason,omitempty"`
		Description string `xml:"Description,omitempty"`
	}
	type xDesc struct {
		Target          xTarget `xml:"Target"`
		HealthCheckPort string  `xml:"HealthCheckPort"`
		TargetHealth    xHealth `xml:"TargetHealth"`
	}
	out := struct {
		TargetHealthDescriptions []xDesc `xml:"TargetHealthDescriptions>member"`
	}{TargetHealthDescriptions: []xDesc{}}
	health := tg.Health()
	if len(only) > 0 {
		for _, w := range only {
			found := false
			for _, h := range health {
				if h.ID == w.id && (w.port == "" || strconv.Itoa(h.Port) == w.port) {
					out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, xDesc{xTarget{h.ID, h.Port}, strconv.Itoa(h.Port), xHealth{h.State, h.Reason, h.Description}})
					found = true
				}
			}
			if !found {
				// NOTE: a target that is not registered is reported as
				// unused with Target.NotRegistered (DescribeTargetHealth).
				port, _ := strconv.Atoi(w.port)
				out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, xDesc{xTarget{w.id, port}, w.port,
					xHealth{loadbalancer.StateUnused, "Target.NotRegistered", "Target is not registered to the target group"}})
			}
		}
		return out, nil
	}
	for _, h := range health {
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, xDesc{xTarget{h.ID, h.Port}, strconv.Itoa(h.Port), xHealth{h.State, h.Reason, h.Description}})
	}
	return out, nil
}

func (f form) targetURLs() ([]string, error) {
	tms, _ := f.members("Targets")
	if len(tms) == 0 {
		return nil, validation("1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null")
	}
	var urls []string
	for _, p := range tms {
		id, _ := f.str(p + ".Id")
		port, ok := f.str(p + ".Port")
		if !ok {
			return nil, validation("A port must be specified for target %s (the lab's target groups have no default port)", id)
		}
		urls = append(urls, "http://"+id+":"+port)
	}
	return urls, nil
}

func (e *ELB) registerTargets(f form) (any, error) {
	arn, _ := f.str("TargetGroupArn")
	tg, err := e.LB.TargetGroup(arn)
	if err != nil {
		return nil, err
	}
	urls, err := f.targetURLs()
	if err != nil {
		return nil, err
	}
	return struct{}{}, tg.RegisterTargets(urls...)
}

func (e *ELB) deregisterTargets(f form) (any, error) {
	arn, _ := f.str("TargetGroupArn")
	tg, err := e.LB.TargetGroup(arn)
	if err != nil {
		return nil, err
	}
	urls, err := f.targetURLs()
	if err != nil {
		return nil, err
	}
	return struct{}{}, tg.DeregisterTargets(urls...)
}

type xTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func (e *ELB) describeTags(f form) (any, error) {
	arns, _ := f.strings("ResourceArns")
	if len(arns) == 0 {
		return nil, validation("1 validation error detected: Value null at 'resourceArns' failed to satisfy constraint: Member must not be null")
	}
	tags, err := e.LB.Tags(arns)
	if err != nil {
		return nil, err
	}
	type xDesc struct {
		ResourceArn string `xml:"ResourceArn"`
		Tags        []xTag `xml:"Tags>member"`
	}
	out := struct {
		TagDescriptions []xDesc `xml:"TagDescriptions>member"`
	}{}
	for i, arn := range arns {
		d := xDesc{ResourceArn: arn}
		for _, k := range sortedKeys(tags[i]) {
			d.Tags = append(d.Tags, xTag{k, tags[i][k]})
		}
		out.TagDescriptions = append(out.TagDescriptions, d)
	}
	return out, nil
}

func (e *ELB) addTags(f form) (any, error) {
	arns, _ := f.strings("ResourceArns")
	tms, _ := f.members("Tags")
	if len(arns) == 0 || len(tms) == 0 {
		return nil, validation("ResourceArns and Tags are required")
	}
	var tags []loadbalancer.Tag
	for _, p := range tms {
		k, _ := f.str(p + ".Key")
		v, _ := f.str(p + ".Value")
		tags = append(tags, loadbalancer.Tag{Key: k, Value: v})
	}
	return struct{}{}, e.LB.AddTags(arns, tags)
}

func (e *ELB) removeTags(f form) (any, error) {
	arns, _ := f.strings("ResourceArns")
	keys, _ := f.strings("TagKeys")
	if len(arns) == 0 || len(keys) == 0 {
		return nil, validation("ResourceArns and TagKeys are required")
	}
	return struct{}{}, e.LB.RemoveTags(arns, keys)
}
