package childenv

import (
	"cmp"
	"os"
	"slices"
	"strings"
)

// redacted replaces a credential's value in a child's output.
const redacted = "[redacted]"

// minSecretLen is the shortest value Redact replaces: shorter values would
// match ordinary words of the output, and real credentials are far longer
// (an AWS access key ID has 20 characters, a secret key 40, a session
// token hundreds).
const minSecretLen = 8

// secretWords are the parts of a variable's name that say its value is a
// credential.
// A webhook's URL (AUTOUPDATE_NOTIFY_URL) is one: whoever has it may post.
var secretWords = []string{"SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE_KEY", "ACCESS_KEY", "API_KEY", "NOTIFY_URL", "WEBHOOK"}

// secret reports whether the variable name says its value is a credential:
// it contains one of secretWords, in any case. AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and
// AWS_CONTAINER_AUTHORIZATION_TOKEN all do.
func secret(name string) bool {
	upper := strings.ToUpper(name)
	return slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(upper, w) })
}

// dropped reports whether a child must not inherit the variable name: every
// AWS_* variable (credentials, and where the SDK finds more of them:
// profiles, credential files, container and web-identity endpoints; none
// of them is a script's business), SSH_AUTH_SOCK (it lends the keys of
// whoever started the agent by hand), and every secret.
func dropped(name string) bool {
	return strings.HasPrefix(strings.ToUpper(name), "AWS_") || name == "SSH_AUTH_SOCK" || secret(name)
}

// Environ returns the agent's environment (os.Environ) for a child, without
// any AWS_* variable, SSH_AUTH_SOCK, or variable whose name says it holds a
// credential: it contains, in any case, SECRET, TOKEN, PASSWORD, PASSWD,
// CREDENTIAL, PRIVATE_KEY, ACCESS_KEY, API_KEY, NOTIFY_URL or WEBHOOK. PATH, HOME, LANG, LC_*,
// TZ, proxies, DEBIAN_* and the rest are kept.
func Environ() []string { return scrub(os.Environ()) }

func scrub(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); !dropped(k) {
			out = append(out, kv)
		}
	}
	return out
}

// Redact returns s with the value of every credential in the agent's
// environment (a variable whose name says so, as for Environ, with a value
// of at least 8 bytes) replaced by "[redacted]". It finds the values as
// they are, not encoded or split across lines; a child cannot see them in
// its environment (Environ), so it can only print what it read elsewhere.
func Redact(s string) string { return redactor(os.Environ()).Replace(s) }

func redactor(env []string) *strings.Replacer {
	var secrets []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if secret(k) && len(v) >= minSecretLen {
			secrets = append(secrets, v)
		}
	}
	// At one position the first of the replacer's strings to match wins:
	// longest first, so a secret containing another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, v := range secrets {
		pairs = append(pairs, v, redacted)
	}
	return strings.NewReplacer(pairs...)
}
