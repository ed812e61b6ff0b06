// Package dashboard serves `pkgdeb dashboard`: a read-only web page that
// shows, for every release channel under an S3 prefix, the current
// release, its rollout and every host's status, and follows them live.
//
// The page is built from what fleet.Summary says (the same document
// `pkgdeb status --json` prints, which the page's JSON endpoint returns
// as is) and from release.Client.History; nothing is derived twice. One
// loop reads each channel once per refresh interval, however many browser
// tabs are open, and only while someone is looking; every tab gets the
// result from memory, pushed as server-sent events.
//
// Everything on the page that someone else wrote (host names, versions,
// states and errors from status objects any agent may write; keys of the
// bucket; a release's control fields) goes through html/template, which
// escapes it for the context it lands in; responses carry a strict
// Content-Security-Policy (scripts and styles only from the server's own
// embedded files, no inline script, no framing), so that even markup that
// slipped through could not run. The server answers GET and HEAD only,
// and only to a Host header it knows (a DNS-rebinding page cannot read it).
//
// Templates, the script, the style sheet and the icon are embedded: the
// binary needs no CDN, no build step and no network but S3.
package dashboard
