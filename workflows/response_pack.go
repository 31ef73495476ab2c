package workflows

// The packed form of a response's tree, for the payloads that carry it
// whole: the result a response returns when it ends and the state it
// carries across continue-as-new. A city round's for_each has a finished
// step per community, each about 520 bytes as a Node (its path, workflow
// ID and area code repeat what its place in the tree says, and its title,
// kind, state and output names repeat its siblings'); 2,000 of them would
// pass the server's 512 KiB warning. Packed, a parent lists its finished
// leaves in one packedLeaves, with only what differs from one to the next,
// at about 200 bytes each.
//
// Decoding a Node unpacks them (Node.UnmarshalJSON), so every reader of a
// result or a carried state, old or new, sees the whole tree; trees
// encoded before the packed form have no packed leaves and decode as they
// did. The progress query keeps answering with the whole tree.

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/musterhq/muster/activities"
)

// packedTreeChange gates the packed form: runs recorded before it returned
// and carried the whole tree, and an older worker must never read a packed
// one.
const packedTreeChange = "response-packed-tree"

// packedLeaves are a node's finished leaves, each at its place among the
// node's children.
type packedLeaves struct {
	// Base is the workflow ID under which a leaf's workflow ID is its path.
	Base string `json:"b,omitempty"`
	// At is the time the leaves' start and finish offsets count from.
	At time.Time `json:"t"`
	// Outputs names the outputs whose values each leaf lists, in order.
	Outputs []string     `json:"o,omitempty"`
	Leaves  []packedLeaf `json:"l"`
}

// packedLeaf is one finished leaf. Title, Type, State and the area's
// Level are empty when they are the previous leaf's.
type packedLeaf struct {
	At    int    `json:"p"`
	ID    string `json:"i"`
	Title string `json:"n,omitempty"`
	Type  string `json:"y,omitempty"`
	State string `json:"s,omitempty"`
	// Detail is the node's; Workflow says its workflow ID is Base/path.
	Detail   string     `json:"d,omitempty"`
	Workflow bool       `json:"w,omitempty"`
	Outputs  []*float64 `json:"o,omitempty"`
	// Started and Finished are nanoseconds after At; nil for a zero time.
	Started  *int64      `json:"b,omitempty"`
	Finished *int64      `json:"f,omitempty"`
	Area     *packedArea `json:"a,omitempty"`
}

// packedArea is a leaf's area; its code is the leaf's ID, and its path,
// when it ends with /code, is given without it.
type packedArea struct {
	ID    int64  `json:"i"`
	Name  string `json:"n"`
	Path  string `json:"p"`
	Level string `json:"l,omitempty"`
	// Whole says Path is the whole path.
	Whole bool `json:"w,omitempty"`
}

// packedTree returns a copy of the tree under n with the finished leaves
// of each node packed; base is the response's workflow ID. n is left as
// it is: the progress query keeps answering with it.
func packedTree(n *Node, base string) *Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Children = nil
	pk := &packedLeaves{Base: base}
	var prev *Node
	for i, ch := range n.Children {
		if !packable(n, ch, prev, base) {
			c.Children = append(c.Children, packedTree(ch, base))
			continue
		}
		pk.add(i, ch, prev)
		prev = ch
	}
	if len(pk.Leaves) > 0 {
		pk.columns(n.Children)
		c.Packed = pk
	}
	return &c
}

// packable reports whether a child's fields are all ones a packedLeaf
// keeps or derives.
func packable(parent, ch, prev *Node, base string) bool {
	if !terminal(ch.State) || len(ch.Children) > 0 || ch.Path != join(parent.Path, ch.ID) ||
		(ch.WorkflowID != "" && ch.WorkflowID != base+"/"+ch.Path) {
		return false
	}
	rest := *ch
	rest.Path, rest.ID, rest.Title, rest.Type, rest.State, rest.Detail, rest.WorkflowID = "", "", "", "", "", "", ""
	rest.Outputs, rest.Area, rest.StartedAt, rest.FinishedAt = nil, nil, time.Time{}, time.Time{}
	if !isZeroNode(rest) {
		return false
	}
	if a := ch.Area; a != nil && (a.Code != ch.ID || (a.Level == "" && prev != nil && prev.Area != nil && prev.Area.Level != "")) {
		return false
	}
	if prev != nil && ((ch.Title == "" && prev.Title != "") || (ch.Type == "" && prev.Type != "")) {
		return false
	}
	//workflowcheck:ignore whether any output is NaN is the same in any order
	for _, v := range ch.Outputs {
		if math.IsNaN(v) {
			return false
		}
	}
	return true
}

func isZeroNode(n Node) bool {
	return n.Round == 0 && n.DeadlineAt.IsZero() && n.NextAt.IsZero() && n.Added == 0 && n.Escalated == 0 &&
		!n.Overdue && !n.Paused && !n.Held && n.Inner == "" && n.Stalls == 0 && n.Asked == 0 && n.LastError == "" && n.Children == nil && n.Ask == nil &&
		n.Packed == nil
}

func (pk *packedLeaves) add(i int, ch, prev *Node) {
	if len(pk.Leaves) == 0 {
		pk.At = firstTime(ch)
	}
	l := packedLeaf{At: i, ID: ch.ID, Title: ch.Title, Type: ch.Type, State: ch.State, Detail: ch.Detail, Workflow: ch.WorkflowID != ""}
	if prev != nil {
		if l.Title == prev.Title {
			l.Title = ""
		}
		if l.Type == prev.Type {
			l.Type = ""
		}
		if l.State == prev.State {
			l.State = ""
		}
	}
	l.Started, l.Finished = pk.offset(ch.StartedAt), pk.offset(ch.FinishedAt)
	if a := ch.Area; a != nil {
		pa := &packedArea{ID: a.ID, Name: a.Name, Path: a.Path, Level: a.Level, Whole: true}
		if p, ok := strings.CutSuffix(a.Path, "/"+a.Code); ok && p != "" {
			pa.Path, pa.Whole = p, false
		}
		if prev != nil && prev.Area != nil && prev.Area.Level == a.Level {
			pa.Level = ""
		}
		l.Area = pa
	}
	pk.Leaves = append(pk.Leaves, l)
}

func firstTime(n *Node) time.Time {
	if !n.StartedAt.IsZero() {
		return n.StartedAt
	}
	return n.FinishedAt
}

func (pk *packedLeaves) offset(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	d := int64(t.Sub(pk.At))
	return &d
}

// columns lists each packed leaf's outputs by the names of all of them.
func (pk *packedLeaves) columns(children []*Node) {
	seen := map[string]bool{}
	for _, l := range pk.Leaves {
		//workflowcheck:ignore the names are collected in a set and sorted below
		for name := range children[l.At].Outputs {
			seen[name] = true
		}
	}
	//workflowcheck:ignore sorted right after
	for name := range seen {
		pk.Outputs = append(pk.Outputs, name)
	}
	slices.Sort(pk.Outputs)
	for i := range pk.Leaves {
		out := children[pk.Leaves[i].At].Outputs
		if len(out) == 0 {
			continue
		}
		vals := make([]*float64, len(pk.Outputs))
		for j, name := range pk.Outputs {
			if v, ok := out[name]; ok {
				vals[j] = &v
			}
		}
		pk.Leaves[i].Outputs = vals
	}
}

// UnmarshalJSON decodes a node and unpacks its packed leaves, if any.
func (n *Node) UnmarshalJSON(b []byte) error {
	type plain Node
	if err := json.Unmarshal(b, (*plain)(n)); err != nil {
		return err
	}
	if pk := n.Packed; pk != nil {
		n.Packed = nil
		n.Children = pk.unpack(n.Path, n.Children)
	}
	return nil
}

// unpack puts the packed leaves back among the other children.
func (pk *packedLeaves) unpack(path string, rest []*Node) []*Node {
	out := make([]*Node, 0, len(rest)+len(pk.Leaves))
	var prev *Node
	for _, l := range pk.Leaves {
		for len(out) < l.At && len(rest) > 0 {
			out, rest = append(out, rest[0]), rest[1:]
		}
		n := &Node{ID: l.ID, Path: join(path, l.ID), Title: l.Title, Type: l.Type, State: l.State, Detail: l.Detail}
		if prev != nil {
			n.Title, n.Type, n.State = or(n.Title, prev.Title), or(n.Type, prev.Type), or(n.State, prev.State)
		}
		if l.Workflow {
			n.WorkflowID = pk.Base + "/" + n.Path
		}
		if len(l.Outputs) > 0 {
			n.Outputs = map[string]float64{}
			for j, v := range l.Outputs {
				if v != nil && j < len(pk.Outputs) {
					n.Outputs[pk.Outputs[j]] = *v
				}
			}
		}
		n.StartedAt, n.FinishedAt = pk.time(l.Started), pk.time(l.Finished)
		if pa := l.Area; pa != nil {
			a := &activities.Area{ID: pa.ID, Code: l.ID, Name: pa.Name, Path: pa.Path, Level: pa.Level}
			if !pa.Whole {
				a.Path = join(pa.Path, l.ID)
			}
			if a.Level == "" && prev != nil && prev.Area != nil {
				a.Level = prev.Area.Level
			}
			n.Area = a
		}
		out = append(out, n)
		prev = n
	}
	return append(out, rest...)
}

func (pk *packedLeaves) time(d *int64) time.Time {
	if d == nil {
		return time.Time{}
	}
	return pk.At.Add(time.Duration(*d))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
