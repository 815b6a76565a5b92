package stepfn

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/relayshift/relayshift/internal/deploy"
)

// HistoryActions are the IAM actions Record needs.
func HistoryActions() []string {
	return []string{"states:GetExecutionHistory"}
}

// Record implements deploy.Executions: it reads the execution's history in
// order and returns the deployment record from the first state output that
// carries a valid one under "preflight" (what the Preflight state writes),
// whatever the state is called. It returns deploy.ErrNoRecord when there is
// none.
// Preflight is the first state, so its output is among the first events:
// small pages (25; the paginator goes on if needed) keep each read small,
// since every event carries the whole state document.
// NOTE: with includeExecutionData (the default), state outputs are in the
// StateExited events; an output over 256 KiB would be truncated, which a
// record (about 1 KiB) never is.
func (e *Executions) Record(ctx context.Context, arn string) (deploy.Record, error) {
	p := sfn.NewGetExecutionHistoryPaginator(e.api, &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn), IncludeExecutionData: aws.Bool(true), MaxResults: 25,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return deploy.Record{}, classify("read history of "+arn, err)
		}
		for _, ev := range page.Events {
			d := ev.StateExitedEventDetails
			if d == nil || d.Output == nil {
				continue
			}
			var state struct {
				Preflight *deploy.Record `json:"preflight"`
			}
			if json.Unmarshal([]byte(*d.Output), &state) != nil || state.Preflight == nil {
				continue
			}
			if err := state.Preflight.Validate(); err != nil {
				continue
			}
			return *state.Preflight, nil
		}
	}
	return deploy.Record{}, fmt.Errorf("execution %s: %w", arn, deploy.ErrNoRecord)
}
