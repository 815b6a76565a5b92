package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/percentile"
)

// row is one line of the table: a figure, its result, and over how many
// runs it was measured.
type row struct {
	indent        int
	label, result string
	n             string
}

// Render writes the table, its header and its notes.
func (rep *Report) Render(w io.Writer) error {
	var b strings.Builder
	speed := 1 / rep.TimeScale
	a := rep.Alarm
	labPeriod := time.Duration(float64(a.PeriodSeconds) * rep.TimeScale * float64(time.Second))
	fmt.Fprintf(&b, "relayshift bench · %s · %s\n", rep.Date.Format("2006-01-02 15:04 MST"), rep.Machine)
	fmt.Fprintf(&b, "lab: time scale 1/%.0f (AWS-side waits and alarm periods run %.0f× faster); production load %s req/s, open loop, ≤ %d in flight (%s not sent in the whole run);\n",
		speed, speed, trimFloat(rep.Rate), loadConcurrency, count(float64(rep.NotSent)))
	fmt.Fprintf(&b, "     alarm %s: 5xx rate > %s%% in %d of %d periods of %d s (%s in the lab); the run took %s\n\n",
		a.Name, trimFloat(a.Threshold), a.DatapointsToAlarm, a.EvaluationPeriods, a.PeriodSeconds, dur(labPeriod), dur(rep.Elapsed.Round(time.Second)))

	rows := rep.rows()
	lw, rw := len([]rune("figure")), len([]rune("result"))
	for _, r := range rows {
		lw = max(lw, 2*r.indent+len([]rune(r.label)))
		rw = max(rw, len([]rune(r.result)))
	}
	fmt.Fprintf(&b, "%-*s  %-*s  %s\n", lw, "figure", rw, "result", "n")
	b.WriteString(strings.Repeat("─", lw+rw+8) + "\n")
	for _, r := range rows {
		line := fmt.Sprintf("%-*s  %-*s  %s", lw, strings.Repeat("  ", r.indent)+r.label, rw, r.result, r.n)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	b.WriteString("\n")
	for _, n := range rep.notes() {
		b.WriteString(wrap("- "+n, 100, "  ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (rep *Report) rows() []row {
	var rows []row
	add := func(indent int, label, result, n string) { rows = append(rows, row{indent, label, result, n}) }

	// 1. The bad release.
	failed := func(r CanaryRun) int { return r.Failed }
	base, canary := medianOf(rep.Baseline, func(r BaselineRun) int { return r.Failed }), medianOf(rep.Canary, failed)
	sent := func(requests float64, notSent int) string {
		return fmt.Sprintf("of %s; %s not sent", count(requests), count(float64(notSent)))
	}
	baseNotSent, canaryNotSent := 0, 0
	for _, r := range rep.Baseline {
		baseNotSent += r.NotSent
	}
	for _, r := range rep.Canary {
		canaryNotSent += r.NotSent
	}
	add(0, "1. Bad release: the candidate answers 5xx to every production request", "", "")
	add(1, "relayshift "+rep.Strategy+": failed requests",
		fmt.Sprintf("%s (%s)", count(canary), sent(medianOf(rep.Canary, func(r CanaryRun) int { return r.Requests }), canaryNotSent)), strconv.Itoa(len(rep.Canary)))
	add(1, fmt.Sprintf("all-at-once, no metric gate (flip, %s, check): failed", dur(rep.BaselineWait)),
		fmt.Sprintf("%s (%s)", count(base), sent(medianOf(rep.Baseline, func(r BaselineRun) int { return r.Requests }), baseNotSent)), strconv.Itoa(len(rep.Baseline)))
	add(1, "ratio all-at-once / relayshift", ratio(base, canary), "")
	caught := 0
	for _, r := range rep.WarmupCaught {
		if r.FailedState == "Warm up candidate" || r.FailedState == "Check candidate health" {
			caught++
		}
	}
	add(1, "relayshift when the test route sees the 5xx too: failed",
		fmt.Sprintf("%s (stopped before any shift: %d of %d)", count(medianOf(rep.WarmupCaught, failed)), caught, len(rep.WarmupCaught)), strconv.Itoa(len(rep.WarmupCaught)))

	// 2. Fault onset to stable, over the runs the alarm path rolled back.
	var total, toAlarm, toRestore []time.Duration
	for _, r := range alarmPath(rep.Canary) {
		if r.Onset.IsZero() {
			continue
		}
		total = append(total, r.Restored.Sub(r.Onset))
		toAlarm = append(toAlarm, r.Alarm.Sub(r.Onset))
		toRestore = append(toRestore, r.Restored.Sub(r.Received))
	}
	a := rep.Alarm
	labPeriod := time.Duration(float64(a.PeriodSeconds) * rep.TimeScale * float64(time.Second))
	add(0, "2. Fault onset → 100% on stable, alarm path", seconds(medianDuration(total)), fmt.Sprintf("%d of %d via alarm", len(total), len(rep.Canary)))
	add(1, fmt.Sprintf("onset → alarm in ALARM (%d of %d periods of %s)", a.DatapointsToAlarm, a.EvaluationPeriods, dur(labPeriod)), seconds(medianDuration(toAlarm)), "")
	add(1, "event → weights restored and read back", millis(medianDuration(toRestore)), "")

	// 3. Rollback function latency.
	lat := slices.Sorted(slices.Values(rep.Rollback.Latencies))
	handler := slices.Sorted(slices.Values(rep.Rollback.HandlerMs))
	msOf := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	add(0, "3. Rollback function: event → weights verified",
		fmt.Sprintf("p50 %s, p99 %s", millis(percentile.NearestRank(lat, 50)), millis(percentile.NearestRank(lat, 99))), fmt.Sprintf("%d events", len(lat)))
	add(1, "as the function times itself (elapsedMs)", fmt.Sprintf("p50 %s, p99 %s",
		millis(msOf(percentile.NearestRank(handler, 50))), millis(msOf(percentile.NearestRank(handler, 99)))), "")

	// 4. Weight changes.
	wc := rep.Weights
	add(0, "4. Weight changes between healthy colours: failed requests",
		fmt.Sprintf("%s of %s (blue %s, green %s; %s not sent)", count(float64(wc.Changed.Failed)), count(float64(wc.Changed.Requests)),
			count(float64(wc.ByColour["blue"])), count(float64(wc.ByColour["green"])), count(float64(wc.Changed.NotSent))), fmt.Sprintf("%d changes", wc.Changes))
	add(1, "control: same load, as long, no change", fmt.Sprintf("%s of %s (%s not sent)", count(float64(wc.Control.Failed)), count(float64(wc.Control.Requests)),
		count(float64(wc.Control.NotSent))), "")

	// 5. Throughput.
	tp := rep.Throughput
	d, p := medianFloat(tp.Direct), medianFloat(tp.Proxy)
	add(0, "5. Throughput: through the lab's ALB / relaysim direct", fmt.Sprintf("%s (%s vs %s req/s)", ratioX(p, d), count(math.Round(p)), count(math.Round(d))),
		strconv.Itoa(len(tp.Direct)))

	// 6. Pipeline overhead.
	var totals, waits, overheads []time.Duration
	for _, x := range rep.Promoted {
		totals, waits, overheads = append(totals, x.Total()), append(waits, x.ConfiguredWait), append(overheads, x.Overhead())
	}
	add(0, "6. Pipeline overhead: total − configured bake and waits", fmt.Sprintf("%s (%s − %s)", seconds(medianDuration(overheads)),
		seconds(medianDuration(totals)), seconds(medianDuration(waits))), strconv.Itoa(len(rep.Promoted)))

	// 7. Cost.
	add(0, "7. AWS cost per deployment (us-east-1 list prices)", "", "")
	for _, c := range []struct {
		what string
		cost Cost
		n    int
	}{{"promoted (" + rep.Strategy + ")", rep.PromotedCost, len(rep.Promoted)}, {"rolled back by the alarm path", rep.RolledBackCost, len(alarmPath(rep.Canary))}} {
		add(1, c.what, dollars(c.cost.Total()), strconv.Itoa(c.n))
		add(2, fmt.Sprintf("Step Functions: %d state transitions", c.cost.Transitions), dollars(c.cost.StepFunctions), "")
		add(2, fmt.Sprintf("Lambda: %d invocations, %s ms billed, %s GB-s", len(c.cost.Invocations), count(float64(c.cost.BilledMs)),
			strconv.FormatFloat(c.cost.GBSeconds, 'f', 3, 64)), dollars(c.cost.Lambda()), "")
		add(2, fmt.Sprintf("CloudWatch GetMetricData: %d metrics", c.cost.Metrics), dollars(c.cost.GetMetricData), "")
	}

	// 8. Bootstraps.
	add(0, "8. Bootstraps: arm64 size · init under aws-lambda-rie (first − warm)", "", "")
	for _, bs := range rep.Bootstraps {
		add(1, fmt.Sprintf("%s (%d MB)", bs.Name, bs.MemoryMB), fmt.Sprintf("%.1f MiB · %.1f ms (%s)", float64(bs.Size)/(1<<20),
			medianFloat(bs.InitMs), millis(medianDuration(bs.FirstMinusWarm))), strconv.Itoa(len(bs.InitMs)))
	}
	return rows
}

func (rep *Report) notes() []string {
	alarmRuns := alarmPath(rep.Canary)
	var canaryExposure, alarmPart []time.Duration
	for _, r := range alarmRuns {
		if !r.Onset.IsZero() {
			canaryExposure = append(canaryExposure, r.Restored.Sub(r.Onset))
			alarmPart = append(alarmPart, r.Alarm.Sub(r.Onset))
		}
	}
	baseFailed := medianOf(rep.Baseline, func(r BaselineRun) int { return r.Failed })
	notes := []string{
		"n: what a figure is computed over. Rows 1, 5, 6 and 8, and row 7's promotion: medians over n runs; row 2 and row 7's rollback: medians over the n runs the alarm path rolled back; row 3: p50 and p99 over n alarm events; row 4: the counts of one run of n weight changes.",
		fmt.Sprintf("Failed = a transport error, a 5xx or a broken body, counted on the production load (%s small chat completions a second) from the start of a release to 1 s after traffic was back on stable; \"of\" = the median of the requests sent in that window; \"not sent\" = the requests the load was due to send while %d of its requests were in flight, which it skips (a stalled proxy shows there, not as failures), summed over the runs (in the header: over the whole run, every load).",
			trimFloat(rep.Rate), loadConcurrency),
		fmt.Sprintf("All-at-once: ModifyListener forwards 100%% to the candidate through the lab's ELBv2 API, waits %s, checks %d chat completions sent through the production listener (4 at a time) and flips back when more than %s%% failed (the alarm's threshold); its own check requests are not counted. No canary, no warm-up, no alarm.",
			dur(rep.BaselineWait), rep.CheckRequests, trimFloat(rep.Alarm.Threshold)),
		"Row 1: the candidate's 5xx spare requests carrying the test route's header, so the candidate passes relayshift's warm-up and only the canary's production traffic meets them; on the last line the test route sees them too.",
	}
	if len(canaryExposure) > 0 && rep.TimeScale < 1 {
		lab := medianDuration(canaryExposure)
		alarm := medianDuration(alarmPart)
		atAWS := time.Duration(float64(alarm)/rep.TimeScale) + (lab - alarm)
		projected := math.Round(medianOf(alarmRuns, func(r CanaryRun) int { return r.Failed }) * float64(atAWS) / float64(lab))
		than := "more than"
		if projected < baseFailed {
			than = "still fewer than"
		}
		notes = append(notes, fmt.Sprintf("Time scale: the alarm path waits for alarm periods, which the lab runs %.0f× faster, while the all-at-once controller's %s is real time in both. At AWS's %d s periods row 2 would be ≈ %s and a canary rolled back by the alarm path would let ≈ %s requests fail at this load, %s the all-at-once flip's %s for a fault this loud (and CloudWatch's metric delay comes on top). Against a loud fault relayshift's defence is the warm-up (row 1, last line); the all-at-once check's weakness is every fault its one %s sample does not see.",
			1/rep.TimeScale, dur(rep.BaselineWait), rep.Alarm.PeriodSeconds, dur(atAWS.Round(time.Second)), count(projected), than,
			count(baseFailed), dur(rep.BaselineWait)))
	}
	notes = append(notes,
		"Row 2: onset = the start of the first failed production request; alarm = the state-change event's timestamp (to the millisecond); restored = the rollback function's answer, sent after it read the restored weights back, timed from the event's arrival at the lab's bus. The lab puts the event on its bus in the same call as the alarm's transition, so there is no alarm → event delay to measure here; on AWS, EventBridge's delivery comes on top.",
		"Row 3: while a deployment is at its first step (10%), the candidate's 5xx alarm is set to ALARM (SetAlarmState); from the event reaching the lab's bus to the function's answer after its read-back; the listener is then checked to hold stable only. Functions run in process (the bootstraps' code, the lab's AWS APIs on loopback).",
		fmt.Sprintf("Row 4: relayshift's ELBv2 adapter (write, read back) steps 10/25/50/75/90/100%% both ways, a change every %s, under the production load plus %s streamed completions a second (16 tokens, %s apart); the control runs the same loads as long at a fixed 50/50.",
			dur(rep.Weights.Interval), trimFloat(rep.Rate/2), dur(tokenInterval)),
	)
	if b := rep.Weights.Changed.BrokenAfterHeaders + rep.Weights.Control.BrokenAfterHeaders; b > 0 {
		notes = append(notes, fmt.Sprintf("Row 4 failures: %s right after the headers (%d while the weights changed, %d in the control). The lab's proxy forwards in full duplex so that a streamed answer is not cut when Go's HTTP/1 server closes the request body (golang/go#40747): a broken stream here is a regression to investigate.",
			plural(b, "stream broke", "streams broke"), rep.Weights.Changed.BrokenAfterHeaders, rep.Weights.Control.BrokenAfterHeaders))
	}
	notes = append(notes,
		fmt.Sprintf("Row 5: %d workers, closed loop, %s per trial, one-token chat completions, to the two blue relaysim targets directly, then through the production listener (all on blue), alternating.", rep.Throughput.Workers, dur(rep.Throughput.Duration)),
		"Row 6: from ExecutionStarted to the end, minus every Wait state's configured seconds × the time scale (bakes, post-promotion bake, holds); functions in process.",
		fmt.Sprintf("Row 7: transitions = states entered + retries; Lambda = invocations at $0.20/1M and duration rounded up to 1 ms × the template's MemorySize at arm64 $%s/GB-s (aws.amazon.com/lambda/pricing); Step Functions Standard $0.025/1,000 transitions (aws.amazon.com/step-functions/pricing); GetMetricData $0.01/1,000 metrics (aws.amazon.com/cloudwatch/pricing), %d per Evaluate. Durations are the lab's: its AWS APIs answer on loopback and relaysim answers the warm-up in milliseconds; on AWS both are slower (a 10 s warm-up at 256 MB would add $0.000033). Left out: free tiers, the six alarms (per alarm-month), CloudWatch Logs, X-Ray traces, DescribeAlarms and the other API requests, Secrets Manager, cold-start init, the ALB; EventBridge delivers AWS service events free.",
			trimFloat(LambdaARMPerGBSecond), rep.MetricsPerEvaluate),
		"Row 8: size of bin/<name>/bootstrap from `make build`; init = the runtime's own INIT REPORT under aws-lambda-rie (bootstrap started → first event requested), for a host build with the same flags and the template's environment pointed at the lab (healthcheck and warmup read the API key secret during init), median of n cold starts; in parentheses the first invocation's latency minus the median of the warm ones after it.",
	)
	return notes
}

// ratio prints a/b, or says b was 0.
func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "– (both 0)"
		}
		return fmt.Sprintf("∞ (%s vs 0)", count(a))
	}
	return ratioX(a, b)
}

func ratioX(a, b float64) string {
	if b == 0 {
		return "–"
	}
	r := a / b
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// count prints a count with thousands separators (one decimal when it is
// a median between two counts).
func count(v float64) string {
	if v != math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(v), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s" }

func millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if math.Abs(ms) >= 100 {
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
}

// dollars prints an amount with three significant digits.
func dollars(v float64) string {
	if v == 0 {
		return "$0"
	}
	digits := max(2, 2-int(math.Floor(math.Log10(v))))
	return "$" + strconv.FormatFloat(v, 'f', digits, 64)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// dur prints a duration with a space before its unit: "2 s", "50 ms".
func dur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		m := d / time.Minute
		return fmt.Sprintf("%d min %d s", m, (d-m*time.Minute)/time.Second)
	case d >= time.Second:
		return trimFloat(round(d.Seconds(), 2)) + " s"
	}
	return trimFloat(round(float64(d)/float64(time.Millisecond), 1)) + " ms"
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// wrap breaks s into lines of at most width runes, continuing with
// indent.
func wrap(s string, width int, indent string) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len([]rune(line))+1+len([]rune(w)) > width:
			lines = append(lines, line)
			line = indent + w
		default:
			line += " " + w
		}
	}
	return strings.Join(append(lines, line), "\n")
}
