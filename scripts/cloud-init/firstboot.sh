#!/bin/sh
# autoupdate-firstboot: run once by cloud-init (runcmd, the final stage) on a
# fresh instance of an auto-scaling group. It installs the autoupdate agent
# from S3 with the instance role, installs the service's current release
# with `autoupdate --once`, then starts the agent. Until the release is
# installed nothing listens on the service's port, so the load balancer's
# health check keeps the instance out of rotation.
set -eu

# --- Settings: edit these (or template them in the launch template). ---
# Where `pkgdeb publish` put the autoupdate package itself.
AGENT_DEB=s3://acme-releases/autoupdate/stable.deb
# The service's release channel and package (see /etc/default/autoupdate).
SOURCE=s3://acme-releases/hello/production.deb
PACKAGE=hello
HEALTH_URL=http://127.0.0.1:8080/healthz
RELOAD_CMD="systemctl reload hello"
# The instance role's RoleId (aws iam get-role --role-name NAME --query
# Role.RoleId). With it the agent's host name is "RoleId:instance-id",
# which is what IAM's ${aws:userid} is for an instance role, so the policy
# in docs/iam-agent.json lets each instance write only its own status
# object. Leave it empty to name hosts by instance ID only (see docs/iam.md).
ROLE_ID=
# --- End of settings. ---

BOOTSTRAP=/usr/local/sbin/bootstrap-autoupdate
log() { echo "autoupdate-firstboot: $*" >&2; }

iid=$("$BOOTSTRAP" instance-id)
host=$iid
if [ -n "$ROLE_ID" ]; then
	host="$ROLE_ID:$iid"
fi

mkdir -p /var/cache/autoupdate-bootstrap
deb=/var/cache/autoupdate-bootstrap/autoupdate.deb
"$BOOTSTRAP" fetch "$AGENT_DEB" "$deb"

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
AUTOUPDATE_HOST=$host
AUTOUPDATE_HEALTH_URL=$HEALTH_URL
AUTOUPDATE_RELOAD_CMD="$RELOAD_CMD"
SETTINGS

status=0
autoupdate --once || status=$?
if [ "$status" -ne 0 ]; then
	log "autoupdate --once failed (exit $status): the service's release is not installed; the load balancer keeps this instance out"
fi
# Start the agent even then: it reports the failure in its status object
# and installs the next release that is published.
systemctl enable --now autoupdate.service
exit "$status"
