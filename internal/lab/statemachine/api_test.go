package statemachine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/emulators"
	"github.com/relayshift/relayshift/internal/stepfn"
)

// apiLab serves a Service over HTTP and returns the real SDK client
// pointed at it.
func apiLab(t *testing.T, handlers map[string]Handler, opts ...func(*Options)) (*lab, *sfn.Client, string) {
	t.Helper()
	l := newLab(t, handlers, opts...)
	srv := httptest.NewServer(l.svc)
	t.Cleanup(srv.Close)
	return l, sfn.NewFromConfig(emulators.AWSConfig(srv.URL)), srv.URL
}

const oneTask = `{"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
	"Parameters":{"FunctionName":"arn:aws:lambda:us-east-1:123456789012:function:work","Payload":{"executionArn.$":"$$.Execution.Id","n.$":"$.n"}},
	"ResultSelector":{"done.$":"$.Payload.done"},"ResultPath":"$.work","Next":"Rest"},
	"Rest":{"Type":"Wait","Seconds":300,"Next":"Done"},"Done":{"Type":"Succeed"}}}`

func createSM(t *testing.T, c *sfn.Client, name, def string) string {
	t.Helper()
	out, err := c.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(def), RoleArn: aws.String(testRole),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	return aws.ToString(out.StateMachineArn)
}

func TestAPIRoundTrip(t *testing.T) {
	l, c, _ := apiLab(t, map[string]Handler{"work": script(ok(`{"done":true}`))})
	ctx := context.Background()
	smARN := createSM(t, c, "relayshift-deploy", oneTask)
	if smARN != "arn:aws:states:us-east-1:123456789012:stateMachine:relayshift-deploy" {
		t.Errorf("state machine ARN %s", smARN)
	}
	desc, err := c.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(smARN)})
	if err != nil {
		t.Fatalf("DescribeStateMachine: %v", err)
	}
	if aws.ToString(desc.Name) != "relayshift-deploy" || desc.Status != types.StateMachineStatusActive || desc.Type != types.StateMachineTypeStandard ||
		aws.ToString(desc.Definition) != oneTask || aws.ToString(desc.RoleArn) != testRole || !desc.CreationDate.Equal(t0) {
		t.Errorf("DescribeStateMachine %+v", desc)
	}

	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(smARN), Name: aws.String("svc-v2-abc123"), Input: aws.String(`{"n":1}`)})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	arn := aws.ToString(start.ExecutionArn)
	if arn != "arn:aws:states:us-east-1:123456789012:execution:relayshift-deploy:svc-v2-abc123" || !start.StartDate.Equal(t0) {
		t.Errorf("StartExecution %s %v", arn, start.StartDate)
	}
	if err := deploy.ValidateExecutionARN(arn); err != nil {
		t.Errorf("the functions would refuse the execution ARN: %v", err)
	}
	l.wait(t, arn)

	x, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("DescribeExecution: %v", err)
	}
	if x.Status != types.ExecutionStatusSucceeded || aws.ToString(x.Output) != `{"n":1,"work":{"done":true}}` ||
		aws.ToString(x.Input) != `{"n":1}` || !x.StopDate.Equal(t0.Add(300*time.Second)) || aws.ToString(x.Name) != "svc-v2-abc123" {
		t.Errorf("DescribeExecution %s output %s input %s stop %v", x.Status, aws.ToString(x.Output), aws.ToString(x.Input), x.StopDate)
	}

	h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("GetExecutionHistory: %v", err)
	}
	var got []string
	for _, e := range h.Events {
		got = append(got, string(e.Type))
	}
	want := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited",
		"WaitStateEntered", "WaitStateExited", "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	ev := h.Events
	if d := ev[0].ExecutionStartedEventDetails; d == nil || aws.ToString(d.Input) != `{"n":1}` || aws.ToString(d.RoleArn) != testRole {
		t.Errorf("ExecutionStarted details %+v", d)
	}
	if d := ev[1].StateEnteredEventDetails; d == nil || aws.ToString(d.Name) != "Work" || aws.ToString(d.Input) != `{"n":1}` || ev[1].PreviousEventId != 0 {
		t.Errorf("TaskStateEntered %+v", ev[1])
	}
	if d := ev[2].TaskScheduledEventDetails; d == nil || aws.ToString(d.Resource) != "invoke" || aws.ToString(d.ResourceType) != "lambda" ||
		aws.ToString(d.Region) != "us-east-1" || !strings.Contains(aws.ToString(d.Parameters), `"Payload":{"executionArn":"`+arn+`","n":1}`) {
		t.Errorf("TaskScheduled %+v", d)
	}
	if d := ev[4].TaskSucceededEventDetails; d == nil || !strings.Contains(aws.ToString(d.Output), `"Payload":{"done":true}`) {
		t.Errorf("TaskSucceeded %+v", d)
	}
	if d := ev[5].StateExitedEventDetails; d == nil || aws.ToString(d.Name) != "Work" || aws.ToString(d.Output) != `{"n":1,"work":{"done":true}}` {
		t.Errorf("TaskStateExited %+v", d)
	}
	if !ev[7].Timestamp.Equal(t0.Add(300 * time.Second)) {
		t.Errorf("WaitStateExited at %v", ev[7].Timestamp)
	}
	for i, e := range ev {
		if e.Id != int64(i+1) {
			t.Errorf("event %d id %d", i, e.Id)
		}
	}

	list, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN), StatusFilter: types.ExecutionStatusSucceeded})
	if err != nil {
		t.Fatalf("ListExecutions: %v", err)
	}
	if len(list.Executions) != 1 || aws.ToString(list.Executions[0].ExecutionArn) != arn || list.Executions[0].Status != types.ExecutionStatusSucceeded {
		t.Errorf("ListExecutions %+v", list.Executions)
	}
	running, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN), StatusFilter: types.ExecutionStatusRunning})
	if err != nil || len(running.Executions) != 0 {
		t.Errorf("ListExecutions RUNNING = %+v, %v", running, err)
	}
	sms, err := c.ListStateMachines(ctx, &sfn.ListStateMachinesInput{})
	if err != nil || len(sms.StateMachines) != 1 || aws.ToString(sms.StateMachines[0].StateMachineArn) != smARN {
		t.Errorf("ListStateMachines = %+v, %v", sms, err)
	}
}

// TestAPIStartExecutionIdempotent: the same name and input while RUNNING
// returns the same execution; another input, or the same after the end,
// is ExecutionAlreadyExists.
func TestAPIStartExecutionIdempotent(t *testing.T) {
	release := make(chan struct{})
	fn := script(outcome{block: release}, ok(`{"done":true}`))
	l, c, _ := apiLab(t, map[string]Handler{"work": fn})
	ctx := context.Background()
	smARN := createSM(t, c, "relayshift-deploy", oneTask)
	in := &sfn.StartExecutionInput{StateMachineArn: aws.String(smARN), Name: aws.String("svc-v2-abc123"), Input: aws.String(`{"n":1}`)}
	first, err := c.StartExecution(ctx, in)
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	l.clock.Advance(time.Second)
	again, err := c.StartExecution(ctx, in)
	if err != nil {
		t.Fatalf("StartExecution again while RUNNING: %v", err)
	}
	if aws.ToString(again.ExecutionArn) != aws.ToString(first.ExecutionArn) || !again.StartDate.Equal(*first.StartDate) {
		t.Errorf("second start = %s %v, want %s %v", aws.ToString(again.ExecutionArn), again.StartDate, aws.ToString(first.ExecutionArn), first.StartDate)
	}
	other := *in
	other.Input = aws.String(`{"n":2}`)
	_, err = c.StartExecution(ctx, &other)
	var exists *types.ExecutionAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("start with another input = %v, want ExecutionAlreadyExists", err)
	}
	list, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN), StatusFilter: types.ExecutionStatusRunning})
	if err != nil || len(list.Executions) != 1 {
		t.Fatalf("RUNNING executions = %+v, %v; want exactly one", list, err)
	}
	close(release)
	l.wait(t, aws.ToString(first.ExecutionArn))
	if _, err := c.StartExecution(ctx, in); !errors.As(err, &exists) {
		t.Fatalf("start after the end = %v, want ExecutionAlreadyExists", err)
	}
	if n := len(fn.Calls()); n != 1 {
		t.Errorf("the function ran %d times, want 1", n)
	}
}

// TestAPIPaging pages through a history and the executions with the SDK's
// paginators.
func TestAPIPaging(t *testing.T) {
	l, c, _ := apiLab(t, map[string]Handler{"work": script(ok(`{"done":true}`))})
	ctx := context.Background()
	smARN := createSM(t, c, "relayshift-deploy", oneTask)
	var arns []string
	for i := range 5 {
		out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(smARN), Name: aws.String("run-" + itoa(i)), Input: aws.String(`{"n":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, aws.ToString(out.ExecutionArn))
		l.wait(t, aws.ToString(out.ExecutionArn))
	}
	var listed []string
	pages := 0
	for p := sfn.NewListExecutionsPaginator(c, &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN), MaxResults: 2}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListExecutions page: %v", err)
		}
		pages++
		for _, x := range page.Executions {
			listed = append(listed, aws.ToString(x.ExecutionArn))
		}
	}
	// Newest first.
	want := []string{arns[4], arns[3], arns[2], arns[1], arns[0]}
	if diff := cmp.Diff(want, listed); diff != "" || pages != 3 {
		t.Errorf("%d pages; executions (-want +got):\n%s", pages, diff)
	}

	full, err := l.svc.History(arns[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		reverse bool
	}{{"forward", false}, {"reverse", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var ids []int64
			pages := 0
			p := sfn.NewGetExecutionHistoryPaginator(c, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arns[0]), MaxResults: 3, ReverseOrder: tc.reverse})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("GetExecutionHistory page: %v", err)
				}
				pages++
				for _, e := range page.Events {
					ids = append(ids, e.Id)
				}
			}
			var wantIDs []int64
			for _, e := range full {
				wantIDs = append(wantIDs, e.ID)
			}
			if tc.reverse {
				for i, j := 0, len(wantIDs)-1; i < j; i, j = i+1, j-1 {
					wantIDs[i], wantIDs[j] = wantIDs[j], wantIDs[i]
				}
			}
			if diff := cmp.Diff(wantIDs, ids); diff != "" {
				t.Errorf("event ids (-want +got):\n%s", diff)
			}
			if want := (len(full) + 2) / 3; pages != want {
				t.Errorf("%d pages, want %d", pages, want)
			}
		})
	}

	noData, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arns[0]), IncludeExecutionData: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range noData.Events {
		if d := e.StateExitedEventDetails; d != nil && d.Output != nil {
			t.Errorf("includeExecutionData=false still returns output %s", aws.ToString(d.Output))
		}
	}
	_, err = c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arns[0]), NextToken: aws.String("bogus")})
	var invalid *types.InvalidToken
	if !errors.As(err, &invalid) {
		t.Errorf("bogus token = %v, want InvalidToken", err)
	}
}

// TestAPIHistoryPagingWhileRunning: a running execution's history grows
// between pages (at the front in reverseOrder); the next page goes on
// after the last event returned, without repeating or skipping one.
func TestAPIHistoryPagingWhileRunning(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reverse bool
		first   []int64
		second  []int64
	}{
		// Events 1-4 exist when the first page is read; 5-7 arrive before
		// the second.
		{name: "reverse", reverse: true, first: []int64{4, 3}, second: []int64{2, 1}},
		{name: "forward", reverse: false, first: []int64{1, 2}, second: []int64{3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release, started := make(chan struct{}), make(chan struct{})
			l, c, _ := apiLab(t, map[string]Handler{"work": script(outcome{out: `{"done":true}`, block: release, started: started})})
			ctx := context.Background()
			smARN := createSM(t, c, "relayshift-deploy", oneTask)
			out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(smARN), Input: aws.String(`{"n":1}`)})
			if err != nil {
				t.Fatal(err)
			}
			arn := aws.ToString(out.ExecutionArn)
			<-started
			ids := func(page *sfn.GetExecutionHistoryOutput) []int64 {
				var out []int64
				for _, e := range page.Events {
					out = append(out, e.Id)
				}
				return out
			}
			first, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 2, ReverseOrder: tc.reverse})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.first, ids(first)); diff != "" || first.NextToken == nil {
				t.Fatalf("first page (-want +got):\n%s (token %v)", diff, first.NextToken)
			}
			close(release)
			deadline := time.Now().Add(5 * time.Second)
			for {
				h, _ := l.svc.History(arn)
				if len(h) >= 7 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			second, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 2, ReverseOrder: tc.reverse, NextToken: first.NextToken})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.second, ids(second)); diff != "" {
				t.Errorf("second page after the history grew (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAPIErrors(t *testing.T) {
	_, c, url := apiLab(t, nil)
	ctx := context.Background()
	smARN := createSM(t, c, "relayshift-deploy", oneTask)

	_, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String("arn:aws:states:us-east-1:123456789012:execution:relayshift-deploy:nope")})
	var notExist *types.ExecutionDoesNotExist
	if !errors.As(err, &notExist) {
		t.Errorf("unknown execution = %v, want ExecutionDoesNotExist", err)
	}
	_, err = c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String("not-an-arn")})
	var invalidARN *types.InvalidArn
	if !errors.As(err, &invalidARN) {
		t.Errorf("invalid ARN = %v, want InvalidArn", err)
	}
	_, err = c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(smARN + "x")})
	var smNotExist *types.StateMachineDoesNotExist
	if !errors.As(err, &smNotExist) {
		t.Errorf("unknown state machine = %v, want StateMachineDoesNotExist", err)
	}
	_, err = c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(smARN), Input: aws.String("{nope")})
	var badInput *types.InvalidExecutionInput
	if !errors.As(err, &badInput) {
		t.Errorf("invalid input = %v, want InvalidExecutionInput", err)
	}
	_, err = c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(smARN), Name: aws.String("has space")})
	var badName *types.InvalidName
	if !errors.As(err, &badName) {
		t.Errorf("invalid name = %v, want InvalidName", err)
	}
	_, err = c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("relayshift-deploy"), Definition: aws.String(`{"StartAt":"S","States":{"S":{"Type":"Succeed"}}}`), RoleArn: aws.String(testRole)})
	var smExists *types.StateMachineAlreadyExists
	if !errors.As(err, &smExists) {
		t.Errorf("create another definition under the same name = %v, want StateMachineAlreadyExists", err)
	}
	if again := createSM(t, c, "relayshift-deploy", oneTask); again != smARN {
		t.Errorf("re-creating the same state machine = %s, want %s", again, smARN)
	}
	_, err = c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("parallel"), Definition: aws.String(readTestdata(t, "unsupported-parallel.asl.json")), RoleArn: aws.String(testRole)})
	var invalidDef *types.InvalidDefinition
	if !errors.As(err, &invalidDef) || !strings.Contains(invalidDef.ErrorMessage(), `state "CheckBothColours": Parallel state is not supported`) {
		t.Errorf("unsupported definition = %v, want InvalidDefinition naming the state and the feature", err)
	}
	_, err = c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN), MaxResults: 1001})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Errorf("maxResults 1001 = %v, want ValidationException", err)
	}

	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "AWSStepFunctions.StartSyncExecution")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]string
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(b, &body) != nil || body["__type"] != "UnknownOperationException" {
		t.Errorf("unknown operation: HTTP %d %s", resp.StatusCode, b)
	}
}

// TestStopExecution: StopExecution aborts at once with its error and
// cause; the Lambda already running is not interrupted and its result is
// discarded.
func TestStopExecution(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	fn := script(outcome{block: release, started: started, out: `{"done":true}`})
	l, c, _ := apiLab(t, map[string]Handler{"work": fn})
	ctx := context.Background()
	smARN := createSM(t, c, "relayshift-deploy", oneTask)
	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(smARN), Input: aws.String(`{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(start.ExecutionArn)
	<-started

	stop, err := c.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arn), Error: aws.String("RolledBack"), Cause: aws.String("alarm relayshift-5xx")})
	if err != nil {
		t.Fatalf("StopExecution: %v", err)
	}
	x, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != types.ExecutionStatusAborted || aws.ToString(x.Error) != "RolledBack" || aws.ToString(x.Cause) != "alarm relayshift-5xx" || !x.StopDate.Equal(*stop.StopDate) {
		t.Errorf("after stop: %s %s %s %v", x.Status, aws.ToString(x.Error), aws.ToString(x.Cause), x.StopDate)
	}
	// The function is still running; let it finish.
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for len(fn.Calls()) != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	l.svc.Close() // waits for the invocation to return
	h, err := l.svc.History(arn)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "ExecutionAborted"}
	if diff := cmp.Diff(want, eventTypes(h)); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if d := h[len(h)-1].ExecutionAborted; d.Error != "RolledBack" || d.Cause != "alarm relayshift-5xx" {
		t.Errorf("ExecutionAborted %+v", d)
	}
	// Stopping an ended execution changes nothing.
	if _, err := l.svc.StopExecution(arn, "Other", "again"); err != nil {
		t.Errorf("stop again: %v", err)
	}
	if x, _ := l.svc.DescribeExecution(arn); x.Error != "RolledBack" {
		t.Errorf("second stop changed the error to %s", x.Error)
	}
}

// TestStepfnAdapterAgainstLab runs the project's Step Functions adapter
// (what the functions use) against the lab: the lock's view of RUNNING
// executions, Describe, Stop, and the deployment record read back from
// the Preflight state's output.
func TestStepfnAdapterAgainstLab(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	preflight := HandlerFunc(func(_ context.Context, payload []byte) ([]byte, error) {
		var in struct {
			ExecutionArn string `json:"executionArn"`
		}
		if err := json.Unmarshal(payload, &in); err != nil {
			return nil, err
		}
		s, err := deploy.ParseStrategy(deploy.Canary10Percent5Minutes)
		if err != nil {
			return nil, err
		}
		plan, err := s.Plan(0)
		if err != nil {
			return nil, err
		}
		rec := deploy.Record{ID: "svc-v2", ExecutionARN: in.ExecutionArn, Version: "v2", Stable: deploy.Blue, Candidate: deploy.Green,
			Before: deploy.Weights{Blue: 100}, Plan: plan, StartedAt: t0}
		return json.Marshal(rec)
	})
	l, c, _ := apiLab(t, map[string]Handler{"preflight": preflight, "work": script(outcome{block: release})})
	ctx := context.Background()
	def := `{"StartAt":"Preflight","States":{
	  "Preflight":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"preflight","Payload":{"executionArn.$":"$$.Execution.Id","request.$":"$"}},
	    "ResultSelector":{"id.$":"$.Payload.id","executionArn.$":"$.Payload.executionArn","version.$":"$.Payload.version","image.$":"$.Payload.image",
	      "commit.$":"$.Payload.commit","stable.$":"$.Payload.stable","candidate.$":"$.Payload.candidate","before.$":"$.Payload.before",
	      "plan.$":"$.Payload.plan","dryRun.$":"$.Payload.dryRun","resumed.$":"$.Payload.resumed","startedAt.$":"$.Payload.startedAt"},
	    "ResultPath":"$.preflight","Next":"Shift"},
	  "Shift":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"work","Payload":{}},"End":true}}}`
	smARN := createSM(t, c, "relayshift-deploy", def)
	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(smARN), Name: aws.String("svc-v2"), Input: aws.String(`{"version":"v2"}`)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(start.ExecutionArn)
	ex := stepfn.New(c)
	deadline := time.Now().Add(5 * time.Second)
	var rec deploy.Record
	for {
		rec, err = ex.Record(ctx, arn)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	if rec.ExecutionARN != arn || rec.Stable != deploy.Blue || rec.ID != "svc-v2" {
		t.Errorf("record %+v", rec)
	}
	running, err := ex.Running(ctx, smARN)
	if err != nil || len(running) != 1 || running[0].ARN != arn || running[0].Status != "RUNNING" || !running[0].Started.Equal(t0) {
		t.Fatalf("Running = %+v, %v", running, err)
	}
	if err := ex.Stop(ctx, arn, "RolledBack", "alarm"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	got, err := ex.Describe(ctx, arn)
	if err != nil || got.Status != "ABORTED" {
		t.Errorf("Describe after Stop = %+v, %v", got, err)
	}
	if _, err := ex.Describe(ctx, smARN+":nope"); deploy.CodeOf(err) != deploy.InvalidInput {
		t.Errorf("Describe of an unknown execution = %v, want InvalidInput", err)
	}
	_ = l
}

// TestEmulatorFixturesAgainstLab: the tier-3 fixtures that create a state
// machine and a RUNNING execution in moto work unchanged against the lab
// (a one-day Wait keeps the execution RUNNING, as moto's never-executed
// ones are).
func TestEmulatorFixturesAgainstLab(t *testing.T) {
	_, c, url := apiLab(t, nil, func(o *Options) { o.Clock = RealClock{} })
	smARN := emulators.StateMachine(t, url, "relayshift-deploy")
	arn := emulators.StartExecution(t, url, smARN, "relay-v2-abc")
	again := emulators.StartExecution(t, url, smARN, "relay-v2-abc")
	if again != arn {
		t.Errorf("starting the same execution again gave %s, want %s", again, arn)
	}
	running, err := stepfn.New(c).Running(context.Background(), smARN)
	if err != nil || len(running) != 1 || running[0].ARN != arn {
		t.Fatalf("Running = %+v, %v", running, err)
	}
}
