// The live board: an HTML page with its script and style embedded (no
// build step, nothing fetched from elsewhere), and the JSON endpoints it
// polls.

package api

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/i18n"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// Settings of the board.
const (
	// EnvUIURL names the variable holding the Temporal Web UI's base URL
	// the board links executions to.
	EnvUIURL = "MUSTER_UI_URL"
	// DefaultUIURL is the dev server's Web UI.
	DefaultUIURL = "http://localhost:8233"
)

//go:embed board
var boardFiles embed.FS

var catalogue = i18n.MustLoad()

// boardPage is the board's HTML, with the messages of the reader's
// language inlined for the script.
var boardPage = template.Must(template.ParseFS(boardFiles, "board/index.html"))

func (s *Server) boardRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/board", Summary: "The live board (HTML; the page asks for the token)", Public: true, h: s.boardHTML},
		{Method: "GET", Path: "/board/assets/{file}", Summary: "The board's script and style (embedded)", Public: true, h: s.boardAsset},
		{Method: "GET", Path: "/v1/board/{incident}", Roles: readers, Summary: "Board summary: steps needing attention, coverage, staff, supply, findings, seals", h: s.board},
		{Method: "GET", Path: "/v1/board/{incident}/areas", Roles: readers, Summary: "One level of the area tree with each area's state (parent=CODE)", h: s.boardAreas},
	}
}

func (s *Server) boardHTML(w http.ResponseWriter, r *http.Request) error {
	locale := r.URL.Query().Get("lang")
	if !i18n.Valid(locale) {
		locale = i18n.Match(r.Header.Get("Accept-Language"))
	}
	msgs := map[string]string{}
	p := catalogue.Printer(locale)
	for _, k := range catalogue.Keys(i18n.Default) {
		if strings.HasPrefix(k, "board.") {
			msgs[strings.TrimPrefix(k, "board.")] = p.Sprintf(k)
		}
	}
	b, err := json.Marshal(msgs)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", locale)
	w.Header().Set("Vary", "Accept-Language")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self' 'unsafe-inline'; img-src 'self' data:")
	return boardPage.Execute(w, map[string]any{"Locale": locale, "Title": p.Sprintf("board.title"), "Messages": template.JS(b)})
}

func (s *Server) boardAsset(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	var ctype string
	switch {
	case strings.HasSuffix(name, ".js"):
		ctype = "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		ctype = "text/css; charset=utf-8"
	default:
		return notFound("file", "no board asset %q", name)
	}
	b, err := fs.ReadFile(boardFiles, "board/"+name)
	if err != nil {
		return notFound("file", "no board asset %q", name)
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	_, err = w.Write(b)
	return err
}

// Board is the board's summary of one incident.
type Board struct {
	Incident string `json:"incident"`
	// Locale is the language of the steps' details: the one asked for
	// (lang=), the browser's (Accept-Language), or the incident's.
	Locale    string    `json:"locale"`
	Runbook   string    `json:"runbook"`
	Title     string    `json:"title"`
	State     string    `json:"state"`
	Level     int       `json:"level"`
	Area      string    `json:"area"`
	AreaPath  string    `json:"area_path"`
	TimeScale float64   `json:"time_scale"`
	StartedAt time.Time `json:"started_at"`
	// UI links the response's page in the Temporal Web UI.
	UI string `json:"ui"`
	// Attention lists the steps someone must look at: stalled, retrying,
	// overdue or awaiting a decision, each with what acts on it.
	Attention []BoardStep          `json:"attention"`
	Steps     []BoardStep          `json:"steps"`
	Rounds    []BoardRound         `json:"rounds"`
	Staff     BoardStaff           `json:"staff"`
	Supply    []domain.SupplyLevel `json:"supply"`
	Findings  BoardFindings        `json:"findings"`
	Compounds BoardCompounds       `json:"compounds"`
	ReadAt    time.Time            `json:"read_at"`
	Errors    map[string]string    `json:"errors,omitempty"`
}

// BoardStep is a step of the response.
type BoardStep struct {
	Path       string    `json:"path"`
	Title      string    `json:"title"`
	Kind       string    `json:"kind"`
	Area       string    `json:"area,omitempty"`
	State      string    `json:"state"`
	Overdue    bool      `json:"overdue,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	WorkflowID string    `json:"workflow_id,omitempty"`
	UI         string    `json:"ui,omitempty"`
	DeadlineAt time.Time `json:"deadline_at,omitzero"`
	// Commands are the CLI commands that act on the step.
	Commands []string `json:"commands,omitempty"`
}

// BoardRound is a testing round's coverage with its projected finish.
type BoardRound struct {
	store.BoardRound
	Coverage        float64      `json:"coverage"`
	ProjectedFinish *time.Time   `json:"projected_finish,omitempty"`
	Late            bool         `json:"late"`
	Points          []BoardPoint `json:"points"`
}

// BoardPoint is a sampling point's coverage with its projected finish.
type BoardPoint struct {
	store.BoardPoint
	Coverage        float64    `json:"coverage"`
	ProjectedFinish *time.Time `json:"projected_finish,omitempty"`
}

// BoardStaff counts staff placed and acknowledged.
type BoardStaff struct {
	Placed       int `json:"placed"`
	Acknowledged int `json:"acknowledged"`
}

// BoardFindings counts open and overdue findings.
type BoardFindings struct {
	Open    int `json:"open"`
	Overdue int `json:"overdue"`
}

// BoardCompounds counts compounds sealed (a checkpoint open) and seal
// steps holding.
type BoardCompounds struct {
	Sealed  int `json:"sealed"`
	Holding int `json:"holding"`
}

// uiLink is the Web UI page of an execution.
func (s *Server) uiLink(workflowID string) string {
	if s.uiURL == "" || workflowID == "" {
		return ""
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", strings.TrimRight(s.uiURL, "/"), url.PathEscape(s.namespace), url.PathEscape(workflowID))
}

func (s *Server) board(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	inc, id, p, err := s.progressOf(ctx, r)
	if err != nil {
		return err
	}
	d, err := s.st.BoardData(ctx, inc)
	if err != nil {
		return err
	}
	locale := boardLocale(r, p.Locale)
	p.AskIn(locale)
	b := Board{Incident: inc, Locale: locale, Runbook: p.Runbook, Title: p.Title, State: p.State, Level: p.Level, Area: p.Area.Name, AreaPath: p.Area.Path,
		TimeScale: p.TimeScale, StartedAt: p.StartedAt, UI: s.uiLink(id), ReadAt: d.ReadAt,
		Staff:     BoardStaff{Placed: d.StaffPlaced, Acknowledged: d.StaffAcknowledged},
		Findings:  BoardFindings{Open: d.FindingsOpen, Overdue: d.FindingsOverdue},
		Compounds: BoardCompounds{Sealed: d.CompoundsSealed},
		Attention: []BoardStep{}, Steps: []BoardStep{}, Rounds: []BoardRound{}, Supply: []domain.SupplyLevel{}}
	for _, n := range p.Leaves() {
		st := BoardStep{Path: n.Path, Title: n.Title, Kind: n.Type, State: n.State, Overdue: n.Overdue, Detail: stepDetail(n, locale), LastError: n.LastError,
			WorkflowID: n.WorkflowID, UI: s.uiLink(n.WorkflowID), DeadlineAt: n.DeadlineAt}
		if n.Area != nil {
			st.Area = n.Area.Name
		}
		if n.Type == workflows.KindSeal && n.Held {
			b.Compounds.Holding++
		}
		if st.Commands = commandsFor(inc, n.Path, n.State); needsAttention(n.State, n.Overdue) {
			b.Attention = append(b.Attention, st)
		}
		b.Steps = append(b.Steps, st)
		if n.Type == workflows.KindStaffSupply && n.WorkflowID != "" {
			levels, err := supplyLevels(ctx, s, n.WorkflowID)
			if err != nil {
				if b.Errors == nil {
					b.Errors = map[string]string{}
				}
				b.Errors[n.Path] = err.Error()
				continue
			}
			b.Supply = append(b.Supply, levels...)
		}
	}
	sort.SliceStable(b.Attention, func(i, j int) bool { return attentionRank(b.Attention[i]) < attentionRank(b.Attention[j]) })
	for _, rd := range d.Rounds {
		br := BoardRound{BoardRound: rd, Points: []BoardPoint{}}
		if rd.Population > 0 {
			br.Coverage = float64(rd.Sampled) / float64(rd.Population)
		}
		br.ProjectedFinish = project(rd.Sampled, rd.Population, rd.OpensAt, rd.LastSample)
		br.Late = rd.ClosedAt == nil && br.ProjectedFinish != nil && br.ProjectedFinish.After(rd.Deadline)
		for _, pt := range rd.Points {
			bp := BoardPoint{BoardPoint: pt}
			if pt.Expected > 0 {
				bp.Coverage = float64(pt.Sampled) / float64(pt.Expected)
			}
			bp.ProjectedFinish = project(pt.Sampled, pt.Expected, rd.OpensAt, pt.LastSample)
			br.Points = append(br.Points, bp)
		}
		b.Rounds = append(b.Rounds, br)
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// boardLocale is the language the board's summary speaks: the one asked
// for with lang=, else the browser's (Accept-Language), else the
// incident's own.
func boardLocale(r *http.Request, incident string) string {
	if l := r.URL.Query().Get("lang"); i18n.Valid(l) {
		return l
	}
	if a := r.Header.Get("Accept-Language"); strings.TrimSpace(a) != "" {
		return i18n.Match(a)
	}
	if i18n.Valid(incident) {
		return incident
	}
	return i18n.Default
}

// project extrapolates the rate since the opening to the rest: when done
// sampled out of want will be reached. Nil before the first sample.
func project(done, want int, opens time.Time, last *time.Time) *time.Time {
	if last == nil || done == 0 || !last.After(opens) {
		return nil
	}
	if done >= want {
		t := *last
		return &t
	}
	perSample := last.Sub(opens) / time.Duration(done)
	t := last.Add(perSample * time.Duration(want-done))
	return &t
}

func needsAttention(state string, overdue bool) bool {
	switch state {
	case workflows.StateStalled, workflows.StateRetrying, workflows.StateAwaitingDecision:
		return true
	}
	return overdue && state != workflows.StateDone
}

// attentionRank puts stalled steps first, then decisions, retries and
// overdue ones.
func attentionRank(s BoardStep) int {
	switch s.State {
	case workflows.StateStalled:
		return 0
	case workflows.StateAwaitingDecision:
		return 1
	case workflows.StateRetrying:
		return 2
	}
	return 3
}

// commandsFor lists the CLI commands that act on a step in a state.
func commandsFor(incident, path, state string) []string {
	switch state {
	case workflows.StateStalled:
		return []string{
			fmt.Sprintf("muster step retry %s %s", incident, path),
			fmt.Sprintf("muster step skip %s %s --reason \"…\"", incident, path),
			fmt.Sprintf("muster step abort %s %s --reason \"…\"", incident, path),
		}
	case workflows.StateAwaitingDecision:
		return []string{
			fmt.Sprintf("muster step decide %s %s approve --reason \"…\"", incident, path),
			fmt.Sprintf("muster step decide %s %s reject --reason \"…\"", incident, path),
		}
	case workflows.StateRetrying, workflows.StateRunning:
		return []string{
			fmt.Sprintf("muster step skip %s %s --reason \"…\"", incident, path),
			fmt.Sprintf("muster status %s", incident),
		}
	}
	return nil
}

// supplyLevels asks a supply step for its days of supply.
func supplyLevels(ctx context.Context, s *Server, workflowID string) ([]domain.SupplyLevel, error) {
	v, err := s.tc.QueryWorkflow(ctx, workflowID, "", workflows.QueryProgress)
	if err != nil {
		return nil, fmt.Errorf("progress of %s: %w", workflowID, err)
	}
	var p struct{ Levels []domain.SupplyLevel }
	if err := v.Get(&p); err != nil {
		return nil, fmt.Errorf("progress of %s: %w", workflowID, err)
	}
	return p.Levels, nil
}

func (s *Server) boardAreas(w http.ResponseWriter, r *http.Request) error {
	inc, err := incident(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	for name := range q {
		if name != "parent" {
			return badRequest(name, "unknown query parameter %q (parameters: parent)", name)
		}
	}
	areas, err := s.st.AreaChildren(r.Context(), inc, q.Get("parent"))
	if errors.Is(err, domain.ErrNotFound) {
		return notFound("parent", "no area %q", q.Get("parent"))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": inc, "parent": q.Get("parent"), "areas": areas})
	return nil
}
