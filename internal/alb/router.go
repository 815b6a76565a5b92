package alb

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/relayshift/relayshift/internal/awserr"
	"github.com/relayshift/relayshift/internal/deploy"
)

// API lists the ELBv2 calls the adapter makes, with the SDK's signatures, so
// that *elbv2.Client satisfies it unchanged.
type API interface {
	DescribeListeners(context.Context, *elbv2.DescribeListenersInput, ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error)
	DescribeRules(context.Context, *elbv2.DescribeRulesInput, ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
	ModifyListener(context.Context, *elbv2.ModifyListenerInput, ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error)
	ModifyRule(context.Context, *elbv2.ModifyRuleInput, ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error)
	DescribeTargetHealth(context.Context, *elbv2.DescribeTargetHealthInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
	DescribeTags(context.Context, *elbv2.DescribeTagsInput, ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
	AddTags(context.Context, *elbv2.AddTagsInput, ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error)
	RemoveTags(context.Context, *elbv2.RemoveTagsInput, ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error)
}

// IAM actions of the adapter's calls, by capability, for the template's
// least-privilege policies and the IAM coverage check.

// ReadActions are needed by Weights (default action or rule).
func ReadActions() []string {
	return []string{"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules"}
}

// WriteActions are needed by SetWeights, on top of ReadActions.
func WriteActions() []string {
	return []string{"elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"}
}

// TagReadActions are needed by Tags.
func TagReadActions() []string {
	return []string{"elasticloadbalancing:DescribeTags"}
}

// TagAddActions are needed by Tag with tags to set.
func TagAddActions() []string {
	return []string{"elasticloadbalancing:AddTags"}
}

// TagRemoveActions are needed by Tag with tag keys to remove.
func TagRemoveActions() []string {
	return []string{"elasticloadbalancing:RemoveTags"}
}

// HealthActions are needed by Health.
func HealthActions() []string {
	return []string{"elasticloadbalancing:DescribeTargetHealth"}
}

// Listener names the resources the adapter works on.
type Listener struct {
	// ListenerARN is the production listener.
	ListenerARN string
	// RuleARN, when set, is the listener rule whose forward action carries
	// the split; otherwise the listener's default action does.
	RuleARN string
	// Blue and Green are the target group ARNs.
	Blue, Green string
}

// Router implements deploy.Router and deploy.Targets.
type Router struct {
	api API
	l   Listener
	// ReadBackAttempts and ReadBackDelay bound how long SetWeights waits
	// for its write to be visible.
	// NOTE: AWS does not document whether DescribeListeners/DescribeRules
	// are read-after-write consistent with Modify*; we read back up to
	// ReadBackAttempts times, doubling ReadBackDelay, before reporting
	// WeightNotApplied.
	ReadBackAttempts int
	ReadBackDelay    time.Duration
	sleep            func(context.Context, time.Duration) error
}

// New returns a Router for l.
func New(api API, l Listener) *Router {
	return &Router{api: api, l: l, ReadBackAttempts: 4, ReadBackDelay: 250 * time.Millisecond, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// resource is the ARN that carries the split and the tags.
func (r *Router) resource() string {
	if r.l.RuleARN != "" {
		return r.l.RuleARN
	}
	return r.l.ListenerARN
}

// actions returns the complete action list of the listener's default action
// or of the rule.
func (r *Router) actions(ctx context.Context) ([]types.Action, error) {
	if r.l.RuleARN != "" {
		out, err := r.api.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{r.l.RuleARN}})
		if err != nil {
			return nil, classify("describe rule "+r.l.RuleARN, err)
		}
		if len(out.Rules) != 1 {
			return nil, deploy.Errorf(deploy.ListenerNotFound, "rule %s not found", r.l.RuleARN)
		}
		return out.Rules[0].Actions, nil
	}
	out, err := r.api.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{r.l.ListenerARN}})
	if err != nil {
		return nil, classify("describe listener "+r.l.ListenerARN, err)
	}
	if len(out.Listeners) != 1 {
		return nil, deploy.Errorf(deploy.ListenerNotFound, "listener %s not found", r.l.ListenerARN)
	}
	return out.Listeners[0].DefaultActions, nil
}

// forward returns the index of the one forward action.
func (r *Router) forward(acts []types.Action) (int, error) {
	idx := -1
	for i, a := range acts {
		if a.Type == types.ActionTypeEnumForward {
			if idx >= 0 {
				return 0, deploy.Errorf(deploy.ListenerMisconfigured, "%s has more than one forward action", r.resource())
			}
			idx = i
		}
	}
	if idx < 0 {
		return 0, deploy.Errorf(deploy.ListenerMisconfigured, "%s has no forward action", r.resource())
	}
	return idx, nil
}

// weightsOf reads the split from a forward action.
// NOTE: with one target group, DescribeListeners returns both the top-level
// TargetGroupArn and ForwardConfig{that group, Weight 1}; with several, only
// ForwardConfig carries them. We read ForwardConfig.TargetGroups and fall
// back to TargetGroupArn only when ForwardConfig is absent.
func (r *Router) weightsOf(a types.Action) (deploy.Weights, error) {
	tuples := []types.TargetGroupTuple(nil)
	if a.ForwardConfig != nil {
		tuples = a.ForwardConfig.TargetGroups
	}
	if len(tuples) == 0 && a.TargetGroupArn != nil {
		tuples = []types.TargetGroupTuple{{TargetGroupArn: a.TargetGroupArn, Weight: aws.Int32(1)}}
	}
	var w deploy.Weights
	for _, t := range tuples {
		weight := 1
		if t.Weight != nil {
			weight = int(*t.Weight)
		}
		switch aws.ToString(t.TargetGroupArn) {
		case r.l.Blue:
			w.Blue = weight
		case r.l.Green:
			w.Green = weight
		default:
			return deploy.Weights{}, deploy.Errorf(deploy.ListenerMisconfigured,
				"%s forwards to %s, which is neither the blue nor the green target group", r.resource(), aws.ToString(t.TargetGroupArn))
		}
	}
	return w, nil
}

// Weights implements deploy.Router.
func (r *Router) Weights(ctx context.Context) (deploy.Weights, error) {
	acts, err := r.actions(ctx)
	if err != nil {
		return deploy.Weights{}, err
	}
	i, err := r.forward(acts)
	if err != nil {
		return deploy.Weights{}, err
	}
	return r.weightsOf(acts[i])
}

// SetWeights implements deploy.Router: diff, apply the complete action list,
// read back.
func (r *Router) SetWeights(ctx context.Context, w deploy.Weights) (deploy.Weights, error) {
	if err := w.Validate(); err != nil {
		return deploy.Weights{}, deploy.Errorf(deploy.RequestRejected, "%v", err)
	}
	acts, err := r.actions(ctx)
	if err != nil {
		return deploy.Weights{}, err
	}
	i, err := r.forward(acts)
	if err != nil {
		return deploy.Weights{}, err
	}
	before, err := r.weightsOf(acts[i])
	if err != nil {
		return deploy.Weights{}, err
	}
	if before.Same(w) {
		return before, nil
	}
	if err := r.write(ctx, r.withWeights(acts, i, w)); err != nil {
		return before, err
	}
	delay := r.ReadBackDelay
	for attempt := 1; ; attempt++ {
		got, err := r.Weights(ctx)
		if err != nil {
			return before, err
		}
		if got.Same(w) {
			return before, nil
		}
		if attempt >= r.ReadBackAttempts {
			return before, deploy.Errorf(deploy.WeightNotApplied, "%s: wrote %s, read back %s", r.resource(), w, got)
		}
		if err := r.sleep(ctx, delay); err != nil {
			return before, err
		}
		delay *= 2
	}
}

// withWeights returns a copy of the complete action list with the forward
// action's target groups set to w. Stickiness and every other action are
// kept, because Modify* replaces the whole list.
func (r *Router) withWeights(acts []types.Action, fwd int, w deploy.Weights) []types.Action {
	out := slices.Clone(acts)
	for i := range out {
		if c := out[i].AuthenticateOidcConfig; c != nil {
			// NOTE: Describe* never returns the OIDC client secret; when
			// modifying, AWS wants ClientSecret or UseExistingClientSecret
			// true (AuthenticateOidcActionConfig reference).
			cc := *c
			cc.ClientSecret, cc.UseExistingClientSecret = nil, aws.Bool(true)
			out[i].AuthenticateOidcConfig = &cc
		}
	}
	a := out[fwd]
	fc := types.ForwardActionConfig{TargetGroups: []types.TargetGroupTuple{
		{TargetGroupArn: aws.String(r.l.Blue), Weight: aws.Int32(int32(w.Blue))},
		{TargetGroupArn: aws.String(r.l.Green), Weight: aws.Int32(int32(w.Green))},
	}}
	if a.ForwardConfig != nil {
		fc.TargetGroupStickinessConfig = a.ForwardConfig.TargetGroupStickinessConfig
	}
	// NOTE: TargetGroupArn and a ForwardConfig with several target groups
	// cannot be sent together (Action reference), so the top-level ARN goes.
	a.TargetGroupArn, a.ForwardConfig = nil, &fc
	out[fwd] = a
	return out
}

func (r *Router) write(ctx context.Context, acts []types.Action) error {
	if r.l.RuleARN != "" {
		_, err := r.api.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(r.l.RuleARN), Actions: acts})
		return classify("modify rule "+r.l.RuleARN, err)
	}
	_, err := r.api.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(r.l.ListenerARN), DefaultActions: acts})
	return classify("modify listener "+r.l.ListenerARN, err)
}

// Tags implements deploy.Router; it returns only relayshift:* tags.
func (r *Router) Tags(ctx context.Context) (map[string]string, error) {
	out, err := r.api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{r.resource()}})
	if err != nil {
		return nil, classify("describe tags of "+r.resource(), err)
	}
	tags := map[string]string{}
	for _, d := range out.TagDescriptions {
		for _, t := range d.Tags {
			if k := aws.ToString(t.Key); strings.HasPrefix(k, "relayshift:") {
				tags[k] = aws.ToString(t.Value)
			}
		}
	}
	return tags, nil
}

// Tag implements deploy.Router.
func (r *Router) Tag(ctx context.Context, set map[string]string, remove []string) error {
	if len(set) > 0 {
		in := &elbv2.AddTagsInput{ResourceArns: []string{r.resource()}}
		for _, k := range slices.Sorted(maps.Keys(set)) {
			in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(set[k])})
		}
		if _, err := r.api.AddTags(ctx, in); err != nil {
			return classify("tag "+r.resource(), err)
		}
	}
	if len(remove) > 0 {
		_, err := r.api.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{r.resource()}, TagKeys: remove})
		if err != nil {
			return classify("untag "+r.resource(), err)
		}
	}
	return nil
}

// Health implements deploy.Targets.
func (r *Router) Health(ctx context.Context, c deploy.Colour) (deploy.Health, error) {
	arn := r.l.Blue
	if c == deploy.Green {
		arn = r.l.Green
	}
	out, err := r.api.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		return deploy.Health{}, classify("describe target health of "+arn, err)
	}
	h := deploy.Health{Reasons: []string{}}
	for _, d := range out.TargetHealthDescriptions {
		if d.TargetHealth == nil {
			continue
		}
		h.Total++
		switch d.TargetHealth.State {
		case types.TargetHealthStateEnumHealthy:
			h.Healthy++
		case types.TargetHealthStateEnumInitial:
			h.Initial++
		case types.TargetHealthStateEnumUnhealthy, types.TargetHealthStateEnumUnhealthyDraining:
			h.Unhealthy++
		case types.TargetHealthStateEnumDraining:
			h.Draining++
		case types.TargetHealthStateEnumUnused:
			h.Unused++
		case types.TargetHealthStateEnumUnavailable:
			h.Unavailable++
		}
		if reason := string(d.TargetHealth.Reason); reason != "" && !slices.Contains(h.Reasons, reason) {
			h.Reasons = append(h.Reasons, reason)
		}
	}
	slices.Sort(h.Reasons)
	return h, nil
}

// classify turns an SDK error into a deploy error with a name Step Functions
// can match. nil stays nil.
func classify(op string, err error) error {
	return awserr.Classify(op, err, func(code string) deploy.Code {
		switch code {
		case "ListenerNotFound", "RuleNotFound", "LoadBalancerNotFound":
			return deploy.ListenerNotFound
		case "TargetGroupNotFound":
			return deploy.TargetGroupNotFound
		case "ValidationError", "InvalidConfigurationRequest", "InvalidLoadBalancerAction",
			"TooManyTargetGroups", "TooManyActions", "TargetGroupAssociationLimit", "OperationNotPermitted", "TooManyTags":
			return deploy.RequestRejected
		}
		return ""
	})
}
