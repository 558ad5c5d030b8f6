# student-copy.awk: the student's version of a Markdown file of the course, for the
# handout (tools/mkhandout.sh runs it on every exported .md file). The markers are HTML
# comments, so the staff's copy renders as if they were not there:
#
#   <!-- staff: begin -->      (own line) this line, the lines up to the end marker and
#   <!-- staff: end -->        the end marker are left out: text for the staff only
#   ... <!-- staff -->         (anywhere in a line, e.g. a table row) that line is left out
#   <!-- student:              (own line) the lines up to a line "-->" are kept, the two
#   -->                        marker lines dropped: text only the student's copy shows
#
# A marker left open is an error (exit status 1), so that no half-filtered file ships.

/^<!-- staff: begin -->$/ {
	if (staff || student)
		fail("a marker inside another")
	staff = FNR
	next
}
/^<!-- staff: end -->$/ {
	if (!staff)
		fail("\"staff: end\" without \"staff: begin\"")
	staff = 0
	next
}
staff { next }
/<!-- staff -->/ { next }
/^<!-- student:$/ {
	if (student)
		fail("a marker inside another")
	student = FNR
	next
}
student && /^-->$/ { student = 0; next }
{ print }
END {
	if (failed)
		exit 1
	if (staff)
		fail("\"staff: begin\" at line " staff " is never ended")
	if (student)
		fail("\"student:\" at line " student " is never ended by a line \"-->\"")
}

function fail(why)
{
	printf "%s:%d: %s\n", FILENAME, FNR, why > "/dev/stderr"
	failed = 1
	exit 1
}
