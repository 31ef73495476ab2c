// An approval's question in each language the runbook wrote it in, kept
// on the response's node so the CLI, the API and the board can show the
// question in their reader's language.

package workflows

import (
	"maps"
	"strings"
)

// Ask is what an approval step asks, as its node on the response keeps it.
type Ask struct {
	// Question is the question filled in, by locale (en, and zh-CN when
	// the runbook has question_zh).
	Question map[string]string
	Approver string
	Default  string
	Timeout  string
}

// In returns the question in a locale, or in English when the runbook did
// not write it in that one.
func (a *Ask) In(locale string) string {
	if q, ok := a.Question[locale]; ok && q != "" {
		return q
	}
	return a.Question["en"]
}

// askOf fills in an approval's question in every language its params
// have, each with the response's facts in that language, and returns the
// step's params with the question in the response's locale, which its own
// details then show.
func askOf(params map[string]any, locale string, facts func(locale string) *strings.Replacer) (*Ask, map[string]any) {
	ask := &Ask{
		Question: map[string]string{"en": facts("en").Replace(paramString(params, "question"))},
		Approver: paramString(params, "approver"), Default: paramString(params, "default"), Timeout: paramString(params, "timeout"),
	}
	if zh := paramString(params, "question_zh"); zh != "" {
		ask.Question["zh-CN"] = facts("zh-CN").Replace(zh)
	}
	out := maps.Clone(params)
	out["question"] = ask.In(locale)
	return ask, out
}

// AskIn rewrites the details of the approvals awaiting a decision so they
// ask their question in locale rather than in the response's own: the
// reader's language, when the reader asks for one. An unknown locale, or
// one the runbook did not write, leaves the details as they are.
func (p *ResponseProgress) AskIn(locale string) {
	from := p.Locale
	if from == "" {
		from = "en"
	}
	var walk func(n *Node)
	walk = func(n *Node) {
		if n == nil {
			return
		}
		if n.Ask != nil && n.State == StateAwaitingDecision {
			if q, ok := n.Ask.Question[locale]; ok && q != "" {
				n.Detail = strings.Replace(n.Detail, n.Ask.In(from), q, 1)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(p.Root)
}
