// Package notify posts JSON messages to webhooks (Slack and Mattermost
// incoming webhooks, or any HTTP receiver) for `pkgdeb wait` and the
// agent: in the background, bounded in queue, attempts and time per
// attempt, so that a slow or dead receiver never delays a deploy or an
// install, and never changes an outcome.
//
// A message is any value that encodes to a JSON object with a "text"
// field, which Slack and Mattermost show as the message. Strings someone
// else wrote go into that text through Quote. A message must not carry
// the fields "channel", "username", "icon_url", "icon_emoji", "type",
// "props", "attachments" or "blocks": those webhooks act on them (post
// elsewhere, change the sender).
//
// A webhook URL is a credential: it appears in logs and errors only as
// its scheme and host (Shown), plain http:// is refused off loopback
// unless allowed, and redirects are not followed.
package notify
