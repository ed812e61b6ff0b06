#!/bin/sh
# autoupdate-firstboot: run once by cloud-init (runcmd, the final stage) on a
# fresh instance of an auto-scaling group. It installs the autoupdate agent
# from S3 with the instance role, installs the service's current release
# with `autoupdate --once`, then starts the agent. Until the release is
# installed nothing listens on the service's port, so the load balancer's
# health check keeps the instance out of rotation.
set -eu

# --- Settings: edit these (or template them in the launch template). ---
# Where `pkgdeb publish --sign-key` put the autoupdate package itself.
AGENT_DEB=s3://acme-releases/autoupdate/stable.deb
# The public half of the release signing key (`pkgdeb keygen`), which the
# user data writes here: the agent package and every release of the
# service must be signed by it.
PUBLIC_KEY=/etc/autoupdate/release.pub
# Or, for the agent package only: the SHA-256 it must have (hex).
AGENT_SHA256=
# The service's release channel and package (see /etc/default/autoupdate).
SOURCE=s3://acme-releases/hello/production.deb
PACKAGE=hello
HEALTH_URL=http://127.0.0.1:8080/healthz
RELOAD_CMD="systemctl reload hello"
# This server's name in status objects. Empty: IAM's ${aws:userid} for
# its credentials (STS), ROLE-ID:INSTANCE-ID for an instance role, the
# only name docs/iam-agent.json lets it write status and failures under.
HOST=
# The group's launch lifecycle hook (EC2_INSTANCE_LAUNCHING), if it has
# one: `autoupdate --once` completes its action, CONTINUE when the release
# runs healthy, ABANDON otherwise (see docs/cloud-init.md). Empty: none.
LIFECYCLE_HOOK=
# The hook's Auto Scaling group. Empty: the instance's tag
# aws:autoscaling:groupName, which needs instance metadata tags enabled
# in the launch template.
LIFECYCLE_GROUP=
# --- End of settings. ---

BOOTSTRAP=/usr/local/sbin/bootstrap-autoupdate
log() { echo "autoupdate-firstboot: $*" >&2; }

# A server without an instance role keeps static credentials (and S3 or
# STS endpoints) in the file the agent's unit reads too.
if [ -f /etc/autoupdate/credentials ]; then
	set -a
	. /etc/autoupdate/credentials
	set +a
fi
if [ -z "$HOST" ]; then
	HOST=$("$BOOTSTRAP" userid)
fi

mkdir -p /var/cache/autoupdate-bootstrap
deb=/var/cache/autoupdate-bootstrap/autoupdate.deb
# Never installed unverified: the bootstrap refuses without a key or a pin.
"$BOOTSTRAP" fetch "$AGENT_DEB" "$deb" ${PUBLIC_KEY:+--public-key "$PUBLIC_KEY"} ${AGENT_SHA256:+--sha256 "$AGENT_SHA256"}

# unattended-upgrades often holds the dpkg lock during the first minutes
# of a new instance: wait for it (bounded), do not fail.
tries=0
until DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$deb"; do
	tries=$((tries + 1))
	if [ "$tries" -ge 60 ]; then
		log "dpkg -i failed $tries times; giving up"
		exit 1
	fi
	log "dpkg busy or failed; retrying in 5s"
	sleep 5
done

# Written after dpkg -i on purpose: the package's postinst starts the agent
# only when this file names a source, and the first install must be the
# foreground `autoupdate --once` below, not a racing daemon.
umask 022
cat >/etc/default/autoupdate <<SETTINGS
AUTOUPDATE_SOURCE=$SOURCE
AUTOUPDATE_PACKAGE=$PACKAGE
AUTOUPDATE_HOST=$HOST
AUTOUPDATE_PUBLIC_KEY=$PUBLIC_KEY
AUTOUPDATE_HEALTH_URL=$HEALTH_URL
AUTOUPDATE_RELOAD_CMD="$RELOAD_CMD"
SETTINGS

# The hook only on this command line: the daemon reads the file above,
# and a lifecycle action is completed once.
status=0
autoupdate --once ${LIFECYCLE_HOOK:+--lifecycle-hook "$LIFECYCLE_HOOK"} \
	${LIFECYCLE_GROUP:+--lifecycle-group "$LIFECYCLE_GROUP"} || status=$?
if [ "$status" -ne 0 ]; then
	log "autoupdate --once failed (exit $status): the service's release is not installed; the load balancer keeps this instance out"
fi
# Start the agent even then: it reports the failure in its status object
# and installs the next release that is published.
systemctl enable --now autoupdate.service
exit "$status"
