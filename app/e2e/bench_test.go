package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/devenv"
	"github.com/musterhq/muster/internal/pgtest"
	"github.com/musterhq/muster/internal/scenario"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// Sizes and settings of the million-resident round.
const (
	roundResidents   = 1_000_000
	roundCommunities = 100
	// roundBatch is the rows per IngestSamples call, as a station sends them.
	roundBatch = 10_000
	// roundStreams is how many uploads run at once (one per core here).
	roundStreams = 2
	// roundVisitors is how many grid workers report home visits at once:
	// each report is a short transaction that waits on its commit, so
	// they overlap (the city has 600 grid workers).
	roundVisitors = 6
	// roundCopyRows is how many sample rows psql \copy writes for the
	// reference rate, as in the data-layer benchmark.
	roundCopyRows = 200_000
	// roundTimeScale makes a scenario hour a real second: with check_every
	// 1h each round counts its samples every second.
	roundTimeScale = 3600
	// Targets.
	roundTargetWall    = 60 * time.Second
	roundTargetEvents  = 10_000
	roundTargetPayload = 512 << 10
)

// roundRunbook tests every community of the city at once. The deadline is
// long (300 s of wall time at the time scale) so rounds close on coverage;
// there is no approval or lift, so the response closes with its last round.
const roundRunbook = `name: city-round
title: A testing round over the city
level: 1
area: district
steps:
  - id: test
    for_each:
      areas: {level: community}
      steps:
        - id: round
          kind: mass-testing
          params: {deadline: 300h, check_every: 1h, revisit_after: 1h, cohorts: "student,teacher"}
`

// BenchmarkMillionResidentRound runs a testing round over a generated city
// of a million residents end to end: a Temporal dev server (FastDevServerArgs),
// a worker in this process, PostgreSQL, the response with one mass-testing
// round per community, and the field at full speed (every resident comes,
// batches of 10,000 through IngestSamples on two streams, every home visit
// samples). It prints the wall time from the response's start to its last
// round closed, residents a second and that rate as a share of psql \copy
// measured in the same run, and the largest history and payload of the
// incident's executions. Run it with `make bench` or
//
//	go test -run '^$' -bench MillionResident -benchtime 1x -timeout 800s ./app/e2e/
func BenchmarkMillionResidentRound(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark: needs the temporal CLI and PostgreSQL")
	}
	for range b.N {
		millionResidentRound(b)
	}
}

func millionResidentRound(b *testing.B) {
	ctx := context.Background()
	fmt.Printf("Million-resident round, end to end — %s\n\n", machine())
	url := pgtest.URL(b)
	st, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	residents, communities := roundResidents, roundCommunities
	if shape, ok := benchRoundShape(b); ok {
		residents, communities = shape.communities*shape.perCommunity, shape.communities
	}
	districts := loadCity(ctx, b, st, residents, communities, 1)

	// The dev server and a worker in this process.
	start := time.Now()
	c := devServer(ctx, b)
	taskQueue := pgtest.Name("bench")
	w := service.NewWorker(c, taskQueue, st)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	benchRow("start the dev server and a worker", "%7.2f s", time.Since(start).Seconds())
	measureRound(ctx, b, roundSetup{st: st, url: url, c: c, taskQueue: taskQueue, districts: districts, communities: communities, target: roundTargetWall, cpu: true})
}

// devServer starts a dev server for a benchmark (FastDevServerArgs, its
// log in the benchmark's temporary folder), registers Muster's search
// attributes and stops the server when the benchmark ends.
func devServer(ctx context.Context, b *testing.B) client.Client {
	bin, err := devenv.TemporalBinary()
	if err != nil {
		b.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(b.TempDir(), "temporal.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	srv, err := devenv.StartTemporal(sctx, devenv.TemporalOptions{Bin: bin, SearchAttributes: workflows.SearchAttributes, Output: logFile})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Stop() })
	c := srv.Client()
	if err := service.RegisterSearchAttributes(ctx, c, "default"); err != nil {
		b.Fatal(err)
	}
	return c
}

// machine says when and on what a benchmark runs.
func machine() string {
	return fmt.Sprintf("%s, %d CPUs, %s", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version())
}

// benchRow prints one figure of a benchmark's table.
func benchRow(label, figure string, args ...any) {
	fmt.Printf("  %-56s %s\n", label, fmt.Sprintf(figure, args...))
}

// verdict is how a figure compares with its target.
func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// loadCity generates a city of residents in communities and loads it into
// st (not part of any measured time), and returns its districts' codes. A
// scenario holds at most scenario.MaxResidents, so a larger city is loaded
// as several districts, each a scenario of its own ("ty1", "ty2", …, every
// code under it prefixed alike); one district keeps the code "city".
func loadCity(ctx context.Context, b *testing.B, st *store.Store, residents, communities, districts int) []string {
	var pgVersion string
	st.DB().GetContext(ctx, &pgVersion, `SELECT split_part(version(), ' on ', 1)`)
	fmt.Printf("Setup (not in the round's time), %s\n", pgVersion)
	var codes []string
	for d := range districts {
		start := time.Now()
		city, err := scenario.GenerateCity(residents/districts, communities/districts, int64(d+1))
		if err != nil {
			b.Fatal(err)
		}
		code := "city"
		if districts > 1 {
			code = fmt.Sprintf("ty%d", d+1)
			city.Name = code
			prefixCodes(&city.Areas[0], code)
		}
		codes = append(codes, code)
		rows := city.Rows()
		registry := rows.Registry
		rows.Registry = nil
		gen := time.Since(start)
		start = time.Now()
		if _, err := st.LoadScenario(ctx, rows); err != nil {
			b.Fatal(err)
		}
		if _, err := st.LoadResidents(ctx, rows.Scenario, registry); err != nil {
			b.Fatal(err)
		}
		benchRow(fmt.Sprintf("generate %s: %d residents, %d communities", code, len(registry), communities/districts), "%7.2f s", gen.Seconds())
		benchRow("load its scenario and residents", "%7.2f s", time.Since(start).Seconds())
		registry, city = nil, nil
		runtime.GC()
	}
	if _, _, err := st.PublishRunbook(ctx, "city-round", "A testing round over the city", []byte(roundRunbook), "bench"); err != nil {
		b.Fatal(err)
	}
	return codes
}

// prefixCodes puts p before the codes of a and of its areas, staff and
// sites, and names the top area after p: the districts of one city.
func prefixCodes(a *scenario.Area, p string) {
	if a.Level == scenario.LevelDistrict {
		a.Code, a.Name = p, "District "+p
	} else {
		a.Code = p + "-" + a.Code
	}
	for i := range a.Staff {
		a.Staff[i].Code = p + "-" + a.Staff[i].Code
	}
	for i := range a.Sites {
		a.Sites[i].Code = p + "-" + a.Sites[i].Code
	}
	for i := range a.Areas {
		prefixCodes(&a.Areas[i], p)
	}
}

// roundSetup is where a measured round runs: Muster's database (url, for
// psql), a Temporal client and the task queue its workers serve.
type roundSetup struct {
	st          *store.Store
	url         string
	c           client.Client
	taskQueue   string
	districts   []string
	communities int
	target      time.Duration
	// cpu measures the CPU of this process, its dev server and the
	// database's backends during the round.
	cpu bool
}

// measureRound runs the city-round response over every community, one
// response a district started together, with the field at full speed and
// prints its figures: wall time, residents a
// second and that rate as a share of psql \copy measured in the same run,
// and the largest history and payload of the incident's executions.
func measureRound(ctx context.Context, b *testing.B, s roundSetup) {
	st, c := s.st, s.c
	incidents, ids := make([]string, len(s.districts)), make([]string, len(s.districts))
	var meter *cpuMeter
	if s.cpu {
		meter = startCPU(ctx, b, st)
	}
	b.ResetTimer()
	start := time.Now()
	for i, d := range s.districts {
		incidents[i] = pgtest.Name(d)
		var err error
		ids[i], _, err = service.StartResponse(ctx, c, s.taskQueue, workflows.ResponseInput{Incident: incidents[i], Runbook: "city-round", Area: d, TimeScale: roundTimeScale}, "bench")
		if err != nil {
			b.Fatal(err)
		}
	}
	field := playField(ctx, b, st, incidents, s.communities, start)
	lastClosed := time.Since(start)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	finals := make([]workflows.ResponseProgress, len(ids))
	for i, id := range ids {
		if err := c.GetWorkflow(rctx, id, "").Get(rctx, &finals[i]); err != nil {
			b.Fatalf("response %s = %v", id, err)
		}
	}
	responseDone := time.Since(start)
	b.StopTimer()
	fmt.Println()
	if meter != nil {
		meter.stop(ctx, s.communities)
	}

	// What the rounds recorded.
	var sampled, expected, missing int
	if err := st.DB().GetContext(ctx, &sampled, `SELECT count(*) FROM samples s JOIN testing_rounds r ON r.id = s.round_id WHERE r.incident = ANY($1)`, pq.Array(incidents)); err != nil {
		b.Fatal(err)
	}
	if err := st.DB().GetContext(ctx, &missing, `SELECT count(*) FROM round_missing m JOIN testing_rounds r ON r.id = m.round_id WHERE r.incident = ANY($1)`, pq.Array(incidents)); err != nil {
		b.Fatal(err)
	}
	var walk func(n *workflows.Node)
	walk = func(n *workflows.Node) {
		if n == nil {
			return
		}
		if n.Type == workflows.KindMassTesting && n.State == workflows.StateDone {
			expected += int(n.Outputs["expected"])
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, f := range finals {
		walk(f.Root)
	}

	// The reference: psql \copy of 200,000 of these samples into an
	// identical table.
	copyRate, copyErr := copySamples(ctx, b, st, s.url, incidents[0])

	rate := float64(sampled) / lastClosed.Seconds()
	row := benchRow
	fmt.Println()
	fmt.Printf("Round over the city: %d district responses, %d rounds (one per community), %d residents expected, %d sampled (%d at home), %d missing\n",
		len(ids), field.rounds, expected, sampled, field.visits, missing)
	row("first round open (response start → samples accepted)", "%7.2f s", field.firstOpen.Seconds())
	row("last round open", "%7.2f s   (%.1f rounds opened a second)", field.lastOpen.Seconds(), float64(field.rounds)/field.lastOpen.Seconds())
	row("all samples uploaded", "%7.2f s   (%d batches, %d streams)", field.uploaded.Seconds(), field.batches, roundStreams)
	row("upload time in IngestSamples (summed over streams)", "%7.2f s   %9.0f rows/s a stream", field.ingest.Seconds(), float64(field.rows)/field.ingest.Seconds())
	row("upload time in RoundQueues (summed)", "%7.2f s", field.queues.Seconds())
	row("home visits recorded (summed)", "%7.2f s   (%d visits, %d at once)", field.visitTime.Seconds(), field.visits, roundVisitors)
	row("wall time, response start → last round closed", "%7.2f s   target < %.0f s        %s", lastClosed.Seconds(), s.target.Seconds(), verdict(lastClosed < s.target))
	row("… → response closed", "%7.2f s", responseDone.Seconds())
	row("residents a second (sampled ÷ wall time)", "%9.0f /s", rate)
	if copyErr == nil {
		row(fmt.Sprintf("psql \\copy, %d sample rows, identical table", roundCopyRows), "%9.0f rows/s", copyRate)
		row("round rate ÷ \\copy rate", "%9.2f×", rate/copyRate)
	} else {
		row("psql \\copy", "skipped: %v", copyErr)
	}
	if sampled != expected || missing != 0 || field.rounds != s.communities {
		b.Errorf("rounds = %d, sampled %d of %d, %d missing; want %d rounds, everyone sampled", field.rounds, sampled, expected, missing, s.communities)
	}

	// Histories and payloads of every execution of the incidents, after
	// the round's figures are out: the scan reads every history.
	var hist histories
	for i := range incidents {
		h := scanHistories(ctx, b, c, incidents[i], ids[i], s.communities/len(ids))
		hist.executions, hist.events = hist.executions+h.executions, hist.events+h.events
		if h.maxEvents > hist.maxEvents {
			hist.maxEvents, hist.longest = h.maxEvents, h.longest
		}
		if h.maxPayload > hist.maxPayload {
			hist.maxPayload, hist.biggestAt = h.maxPayload, h.biggestAt
		}
	}
	row(fmt.Sprintf("executions of the incidents (%d listed)", hist.executions), "%7d events in all", hist.events)
	row("largest history: "+hist.longest, "%7d events   target < %d   %s", hist.maxEvents, roundTargetEvents, verdict(hist.maxEvents < roundTargetEvents))
	row("largest payload: "+hist.biggestAt, "%7d bytes    target < %d %s", hist.maxPayload, roundTargetPayload, verdict(hist.maxPayload < roundTargetPayload))
	b.ReportMetric(lastClosed.Seconds(), "s/round")
	b.ReportMetric(rate, "residents/s")
	b.ReportMetric(float64(hist.maxEvents), "max-events")
	b.ReportMetric(float64(hist.maxPayload), "max-payload-B")
}

// fieldResult is what the field did.
type fieldResult struct {
	rounds, batches, rows, visits int
	firstOpen, lastOpen, uploaded time.Duration
	ingest, queues, visitTime     time.Duration
}

// playField is the field at full speed: it watches the incident's open
// rounds, uploads a sample for every resident of each new round in batches
// of roundBatch on roundStreams streams, records every home visit as
// sampled once the round has assigned them (roundVisitors at once), and returns when rounds rounds
// have opened and none is open any more.
func playField(ctx context.Context, b *testing.B, st *store.Store, incidents []string, rounds int, start time.Time) fieldResult {
	var res fieldResult
	var ingestNs, queueNs, visitNs, rowsN, batchesN, visitsN atomic.Int64
	jobs := make(chan func() error, 2*rounds)
	visitJobs := make(chan func() error, 2*rounds)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	pool := func(n int, jobs chan func() error) {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for job := range jobs {
					if err := job(); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}()
		}
	}
	pool(roundStreams, jobs)
	pool(roundVisitors, visitJobs)
	defer func() {
		close(jobs)
		close(visitJobs)
		wg.Wait()
	}()
	type state struct {
		id         int64
		visits     int // home visits the round plans
		recorded   atomic.Int64
		visitsBusy atomic.Bool
	}
	seen := map[int64]*state{}
	var pendingUploads atomic.Int64
	uploadsDone := time.Time{}
	for {
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		var open []store.RoundInfo
		for _, incident := range incidents {
			o, err := st.OpenRoundsFor(ctx, incident)
			if err != nil {
				b.Fatal(err)
			}
			open = append(open, o...)
		}
		if len(open) == 0 && len(seen) >= rounds {
			break
		}
		for _, info := range open {
			r, ok := seen[info.ID]
			if !ok {
				if len(seen) == 0 {
					res.firstOpen = time.Since(start)
				}
				res.lastOpen = time.Since(start)
				plan, err := st.RoundPlan(ctx, info.ID)
				if err != nil {
					b.Fatal(err)
				}
				r = &state{id: info.ID, visits: plan.HomeVisits}
				seen[info.ID] = r
				pendingUploads.Add(1)
				jobs <- func() error {
					defer pendingUploads.Add(-1)
					t := time.Now()
					qs, err := st.RoundQueues(ctx, r.id, []string{"student", "teacher"})
					queueNs.Add(int64(time.Since(t)))
					if err != nil {
						return err
					}
					now := time.Now()
					batch := make([]store.SampleRow, 0, roundBatch)
					send := func() error {
						if len(batch) == 0 {
							return nil
						}
						t := time.Now()
						out, err := st.IngestSamples(ctx, store.IngestBatch{Incident: info.Incident, Rows: batch, Max: roundBatch})
						ingestNs.Add(int64(time.Since(t)))
						if err != nil {
							return err
						}
						if out.Accepted+out.AlreadyRecorded != len(batch) {
							return fmt.Errorf("IngestSamples() = %d accepted, %d already, %d rejected (first %+v), want %d", out.Accepted, out.AlreadyRecorded, len(out.Rejected), out.Rejected[:min(1, len(out.Rejected))], len(batch))
						}
						rowsN.Add(int64(len(batch)))
						batchesN.Add(1)
						batch = batch[:0]
						return nil
					}
					for _, q := range qs {
						for _, code := range q.Residents {
							batch = append(batch, store.SampleRow{Tube: fmt.Sprintf("T%d-%s", r.id, code), Resident: code, Point: q.PointCode, TakenAt: now, Result: "negative"})
							if len(batch) == roundBatch {
								if err := send(); err != nil {
									return err
								}
							}
						}
					}
					return send()
				}
			}
			if int(r.recorded.Load()) < r.visits && r.visitsBusy.CompareAndSwap(false, true) {
				visitJobs <- func() error {
					defer r.visitsBusy.Store(false)
					t := time.Now()
					defer func() { visitNs.Add(int64(time.Since(t))) }()
					vs, err := st.PendingVisits(ctx, r.id)
					if err != nil {
						return err
					}
					now := time.Now()
					for _, v := range vs {
						if err := st.RecordHomeVisit(ctx, r.id, v.Resident, v.Attempt, true, fmt.Sprintf("T%d-%s", r.id, v.Resident), now); err != nil {
							return err
						}
						r.recorded.Add(1)
						visitsN.Add(1)
					}
					return nil
				}
			}
		}
		if uploadsDone.IsZero() && len(seen) >= rounds && pendingUploads.Load() == 0 {
			uploadsDone = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if uploadsDone.IsZero() {
		uploadsDone = time.Now()
	}
	res.rounds = len(seen)
	res.uploaded = uploadsDone.Sub(start)
	res.rows, res.batches, res.visits = int(rowsN.Load()), int(batchesN.Load()), int(visitsN.Load())
	res.ingest, res.queues, res.visitTime = time.Duration(ingestNs.Load()), time.Duration(queueNs.Load()), time.Duration(visitNs.Load())
	return res
}

// copySamples writes roundCopyRows of the incident's samples to a CSV file
// and times psql \copy of that file into a table identical to samples.
func copySamples(ctx context.Context, b *testing.B, st *store.Store, url, incident string) (float64, error) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		return 0, err
	}
	if _, err := st.DB().ExecContext(ctx, `CREATE TABLE samples_copy (LIKE samples INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	const cols = `tube, round_id, resident_id, point_id, taken_at, result, batch_id, cohort, home_visit`
	file := filepath.Join(b.TempDir(), "samples.csv")
	run := func(cmd string) {
		out, err := exec.CommandContext(ctx, psql, url, "-v", "ON_ERROR_STOP=1", "-q", "-c", cmd).CombinedOutput()
		if err != nil {
			b.Fatalf("psql %s: %v: %s", cmd, err, out)
		}
	}
	run(fmt.Sprintf(`\copy (SELECT %s FROM samples WHERE round_id IN (SELECT id FROM testing_rounds WHERE incident = '%s') LIMIT %d) TO '%s' WITH (FORMAT csv)`, cols, incident, roundCopyRows, file))
	start := time.Now()
	run(fmt.Sprintf(`\copy samples_copy (%s) FROM '%s' WITH (FORMAT csv)`, cols, file))
	d := time.Since(start)
	var n int
	if err := st.DB().GetContext(ctx, &n, `SELECT count(*) FROM samples_copy`); err != nil {
		b.Fatal(err)
	}
	return float64(n) / d.Seconds(), nil
}

// histories is what scanning the incident's executions found.
type histories struct {
	executions, events, maxEvents int
	longest                       string
	maxPayload                    int
	biggestAt                     string
}

// scanHistories lists the incident's executions (visibility, by
// MusterIncident, and the response itself), takes each one's history
// length and reads its history for the largest single payload.
func scanHistories(ctx context.Context, b *testing.B, c client.Client, incident, responseID string, rounds int) histories {
	type exec struct{ id, run string }
	var execs []exec
	seen := map[string]bool{}
	add := func(id, run string) {
		if !seen[id+"/"+run] {
			seen[id+"/"+run] = true
			execs = append(execs, exec{id, run})
		}
	}
	// Visibility is eventually consistent: wait until every round's
	// workflow is listed.
	for deadline := time.Now().Add(20 * time.Second); ; {
		var token []byte
		for {
			resp, err := listPage(ctx, c, &workflowservice.ListWorkflowExecutionsRequest{
				Query: fmt.Sprintf("%s = '%s'", workflows.SAIncident.GetName(), incident), NextPageToken: token,
			})
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range resp.GetExecutions() {
				add(e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId())
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
		if len(execs) >= rounds+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(execs) == 0 {
		add(responseID, "")
	}
	sort.Slice(execs, func(i, j int) bool { return execs[i].id < execs[j].id })
	var h histories
	h.executions = len(execs)
	for _, e := range execs {
		desc, err := c.DescribeWorkflow(ctx, e.id, e.run)
		if err != nil {
			b.Fatal(err)
		}
		n := int(desc.RawResponse.GetWorkflowExecutionInfo().GetHistoryLength())
		h.events += n
		if n > h.maxEvents {
			h.maxEvents, h.longest = n, e.id
		}
		it := c.GetWorkflowHistory(ctx, e.id, e.run, false, 0)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				b.Fatal(err)
			}
			largestPayload(ev.ProtoReflect(), func(size int) {
				if size > h.maxPayload {
					h.maxPayload = size
					h.biggestAt = fmt.Sprintf("%s event %d %s", e.id, ev.GetEventId(), ev.GetEventType())
				}
			})
		}
	}
	return h
}

// listPage lists one page of visibility, allowing each call a minute and
// five tries: after a city round the cluster's visibility store can take
// longer than the client's default ten seconds to answer.
func listPage(ctx context.Context, c client.Client, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	var err error
	for range 5 {
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		var resp *workflowservice.ListWorkflowExecutionsResponse
		resp, err = c.ListWorkflow(lctx, req)
		cancel()
		if err == nil || ctx.Err() != nil {
			return resp, err
		}
		time.Sleep(2 * time.Second)
	}
	return nil, err
}

// largestPayload calls found with the size of every Payload in m.
func largestPayload(m protoreflect.Message, found func(int)) {
	if m.Descriptor().FullName() == "temporal.api.common.v1.Payload" {
		found(proto.Size(m.Interface()))
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				largestPayload(l.Get(i).Message(), found)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				largestPayload(mv.Message(), found)
				return true
			})
		case fd.Message() != nil && !fd.IsMap():
			largestPayload(v.Message(), found)
		}
		return true
	})
}
