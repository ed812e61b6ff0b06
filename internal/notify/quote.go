package notify

import (
	"strconv"
	"strings"
)

// maxQuoted bounds a quoted string in a message: status objects carry
// errors of up to kilobytes, a chat line does not need them whole.
const maxQuoted = 1000

// slackEscaper escapes the three characters Slack's message formatting
// gives a meaning to (https://api.slack.com/reference/surfaces/formatting#escaping):
// with them, a string could make a link (<https://evil|looks fine>) or a
// mention (<!channel>). Mattermost shows the entities as the characters.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Quote returns s, which someone else wrote (a host name, a version, an
// error from a status object: any agent can write one), as it can appear
// in a message's text for a Slack or Mattermost webhook without acting on
// it: on one line, at most maxQuoted characters, with characters a
// terminal or a bidi-aware renderer would act on written as Go escapes,
// backticks replaced by ', &, < and > escaped as Slack documents, and the
// whole in a code span (`...`), where neither renders markdown, links or
// @mentions.
func Quote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxQuoted {
		s = string(r[:maxQuoted-3]) + "..."
	}
	q := strconv.Quote(s)
	q = q[1 : len(q)-1]
	q = strings.ReplaceAll(q, `\"`, `"`)
	q = strings.ReplaceAll(q, "`", "'")
	if q == "" {
		return "``"
	}
	return "`" + slackEscaper.Replace(q) + "`"
}
