"""All user-facing copy in one place, so tone stays consistent and reviewable."""

from __future__ import annotations

WIN_LOGGED = {
    "shipped": "🚀 Logged a *shipped* win: {text}",
    "clarity": "🧭 Logged a *clarity* win: {text}",
}
WIN_ALREADY_LOGGED = "That one is already in your log — nothing added twice."
WIN_UNDONE = "↩️ Removed: {text}"
WIN_ALREADY_UNDONE = "That win was already removed."
WIN_REDELIVERED_REMOVED = (
    "That win was logged and then removed with Undo, so nothing was added. Log it again with "
    "`/win` if you meant to keep it."
)
UNDO_BUTTON = "Undo"

STREAK_NONE = "No clarity streak yet — one 🧭 win this week starts it"
STREAK_ONE = "Clarity streak: 1 week"
STREAK_MANY = "Clarity streak: {weeks} weeks"
STREAK_AT_RISK = " · a 🧭 win this week keeps it going"
BALANCE_EMPTY = "Balance: nothing logged in the last 4 weeks"
BALANCE = "Balance (4 weeks): {percent}% clarity · target {target}%"
BALANCE_ON_TARGET = " ✓"

LANE_QUESTION = "Which lane is this win in?\n>{text}"
LANE_SUGGESTION = "It reads like *{label}* to me — your call."
LANE_NO_SUGGESTION = "Pick the lane that fits."
LANE_SHIPPED_BUTTON = "🚀 Shipped"
LANE_CLARITY_BUTTON = "🧭 Created clarity"
DRAFT_EXPIRED = (
    "That question has expired (after a day) and nothing was logged. "
    "Please log the win again with `/win shipped …` or `/win clarity …`."
)

ERRORS = {
    "blank": "A win needs a few words. Try `/win clarity Aligned sales and eng on the Q3 bet` "
    "or `/win shipped Launched the new onboarding`.",
    "blank_with_lane": "What did you {verb}? Add a few words after the lane, for example "
    "`/win {lane} {example}`.",
    "too_long": "That win is {length:,} characters; the limit is 3,000. Nothing was saved — "
    "shorten it (a link can hold the details) and send it again.",
    "future_date": "That date is in the future. Pick today or an earlier day.",
    "date_too_old": "That date is more than a year ago. Pick a date within the last year.",
    "bad_link": "That link does not look like a web address (it should start with https://).",
    "beneficiary_too_long": "Keep \u201cwho benefited\u201d under 200 characters.",
    "no_lane": "Pick a lane: 🚀 Shipped or 🧭 Created clarity.",
    "bad_form": "Something in that form did not come through. Please fill it in again.",
}
BLANK_WITH_LANE_EXAMPLES = {
    "shipped": ("ship", "Launched the new onboarding"),
    "clarity": ("make clear", "Framed the pricing problem for the exec team"),
}

NOT_SAVED = (
    "⚠️ Your win was *not saved*: my storage is unavailable right now. "
    "Please try again in a minute. Here is your text so nothing is lost:"
)
# The write was sent and its answer lost (Redis slow or cut off), and a check could not find
# it: it may be stored, or still land. Never "not saved" then (a retyped /win is a new win).
WIN_UNCONFIRMED = (
    "⚠️ I couldn't confirm your win was saved: my storage did not answer in time. "
    "Check `/coach history` before logging it again (`/coach undo` removes the latest). "
    "Here is your text:"
)
WIN_UNCONFIRMED_CLICK = (
    "⚠️ I couldn't confirm your win was saved: my storage did not answer in time. "
    "Click the lane again: the same win is never logged twice."
)
WIN_UNCONFIRMED_SHORT = (
    "Not confirmed: storage did not answer in time. Submit again: this form never logs a win twice."
)
NOT_DONE = "⚠️ That did *not* go through: my storage is unavailable right now. Please try again."
WIN_TOO_LONG_BACK = "Here is your text to shorten and send again:"
REFLECT_TOO_LONG_BACK = "Here is your text to shorten and send again:"
TEXT_BACK_CUT = "…and {rest:,} more characters that do not fit in one message."
GENERIC_ERROR = "😕 Something went wrong on my side and nothing was changed. Please try again."
FORM_TOO_LATE = "⏳ Slack was too slow to open that form in time. Please click again."

MODAL_TITLE = "Log a win"
MODAL_SUBMIT = "Log it"
MODAL_CANCEL = "Cancel"
MODAL_TEXT_LABEL = "What was the win?"
MODAL_TEXT_PLACEHOLDER = "e.g. Got design and eng to agree on the v2 scope"
MODAL_LANE_LABEL = "Lane"
MODAL_LANE_SHIPPED = "🚀 Shipped — launched, released, fixed, delivered"
MODAL_LANE_CLARITY = "🧭 Created clarity — decided, aligned, framed, unblocked"
MODAL_DATE_LABEL = "When"
MODAL_LINK_LABEL = "Link (optional)"
MODAL_BENEFICIARY_LABEL = "Who benefited? (optional)"
MODAL_BENEFICIARY_PLACEHOLDER = "e.g. the onboarding squad, Sales EMEA"
MODAL_DONE_TITLE = "Win logged"
MODAL_CLOSE = "Close"

NOT_SAVED_SHORT = "Not saved: my storage is unavailable right now. Please submit again in a minute."

HOME_INTRO = (
    "*Welcome to PM Coach* 👋\n"
    "Busy weeks hide which kind of work filled them. Log your wins in two lanes and I'll show "
    "you the balance:\n"
    "• 🚀 *Shipped* — launched, released, fixed, delivered\n"
    "• 🧭 *Created clarity* — decided, aligned, framed a problem, unblocked others\n"
    "Try `/win clarity Framed the pricing question for the exec review`."
)

# /coach and the App Home ---------------------------------------------------------------------

COACH_HELP_FULL = (
    "*PM Coach* — notice which kind of work fills your weeks.\n"
    "*Log wins*\n"
    "• `/win shipped <what>` 🚀 · `/win clarity <what>` 🧭 · `/win <what>` (I ask) · "
    "`/win` (form)\n"
    "*See where you stand*\n"
    "• `/coach stats` — balance, streak and your last 12 weeks\n"
    "• `/coach history [n]` — your latest wins, to edit or delete · `/coach undo` — remove the "
    "last one\n"
    "• `/coach export [this|last] [month|quarter|year]` or `/coach export 2026-01-01..2026-03-31`"
    " — a brag document, sent to you privately (add `with reflections` to include them)\n"
    "• `/reflect <answer>` — answer your latest reflection question (private to you)\n"
    "*Make it yours*\n"
    "• `/coach target 40%` — your clarity goal · `/coach timezone Europe/Berlin` or `auto`\n"
    "• `/coach nudges mon,thu 09:30` or `/coach nudges off` — when I send a reflection question\n"
    "• `/coach pause 2w` / `/coach resume` — vacation; streaks wait for you\n"
    "• `/coach prompts`, `/coach prompts add <question>`, `/coach prompts remove <n>`\n"
    "• `/coach share on|off` — may your clarity wins appear in the team recap (off by default)\n"
    "• `/coach forget-me` — delete everything PM Coach knows about you"
)
COACH_UNKNOWN_FULL = "I didn't understand `{text}`. Here is what I can do:"

STATS_TITLE = "Where you stand"
STATS_WEEKS = "This week: {this_c} 🧭 · {this_s} 🚀   Last week: {last_c} 🧭 · {last_s} 🚀"
STATS_LONGEST = "Longest streak: {weeks} week{plural}"
STATS_TOTAL = "{total} win{plural} logged in all"
STATS_EMPTY = "Nothing logged yet. Start with `/win clarity <something you made clear>`."
# A settings command (`/coach target 40`, `share on`...) from a PM without a profile: a
# newcomer, or a PM who used forget-me. Only a win enrols, so nothing was written.
SETTING_BEFORE_FIRST_WIN = (
    "Not saved: PM Coach starts with your first win. Log one with `/win clarity …` or "
    "`/win shipped …`, then run this again."
)

CHART_TITLE = "Last 12 weeks"
CHART_HEADER = "week of   🧭 clarity          🚀 shipped"
CHART_PAUSED = "paused"

HISTORY_TITLE = "Your latest {count} win{plural}"
HISTORY_EMPTY = "No wins yet. Log one with `/win`."
HISTORY_EDIT = "Edit"
HISTORY_DELETE = "Delete"
HISTORY_DELETED = "Deleted: {text}"
BAD_COUNT = "Give a number of wins from 1 to 20, for example `/coach history 10`."

UNDO_NOTHING = "There is nothing to undo: you have not logged a win yet."

TARGET_SET = "🎯 Your clarity target is now *{percent}%*."
TARGET_BAD = "Give a target between 1% and 100%, for example `/coach target 40%`."
TZ_SET = "🕰️ Your time zone is now *{tz}*. Wins you already logged keep the week they were in."
TZ_AUTO = "🕰️ Following your Slack time zone again: *{tz}*."
TZ_BAD = (
    "I don't know the time zone `{tz}`. Use a name like `Europe/Berlin` or `America/New_York`,"
    " or `auto` to follow your Slack setting."
)
TZ_SHOW = "Your time zone is *{tz}* ({source}). Change it with `/coach timezone <Area/City>` or "
TZ_SHOW_AUTO = "`/coach timezone auto`."
TZ_SOURCE_GUESS = "a guess: I haven't heard your zone from Slack yet"
PAUSED = (
    "🏖️ Paused until {until:%a %d %b}. No nudges meanwhile, and your streak waits for you: "
    "paused weeks neither count nor break it. `/coach resume` to come back early."
)
PAUSE_BAD = "Say how many weeks, from 1 to 12, for example `/coach pause 2w`."
RESUMED = "👋 Welcome back — you're no longer paused."
NOT_PAUSED = "You weren't paused, so nothing changed."
SHARE_ON = (
    "🙌 Your clarity wins may now appear in the weekly team recap, with your name. "
    "Reflections never do. `/coach share off` to stop."
)
SHARE_OFF = "🔒 Your wins stay private: the team recap will only count them, never show them."
SHARE_BAD = "Say `/coach share on` or `/coach share off`."

PROMPTS_TITLE = "Reflection prompts"
PROMPTS_BUILTIN = "{count} built-in prompts across {themes} themes rotate with your own."
PROMPTS_NONE = "You have no prompts of your own yet. Add one: `/coach prompts add <a question>`."
PROMPTS_ADDED = "➕ Added prompt {number}: {text}"
PROMPTS_REMOVED = "➖ Removed prompt {number}."
PROMPTS_NOT_FOUND = "You have no prompt number {number}. `/coach prompts` lists them."
PROMPTS_FULL = "You already have {limit} prompts of your own. Remove one first."
PROMPTS_BAD = {
    "blank": "Add the question after `prompts add`, e.g. `/coach prompts add What did I decide?`",
    "too_long": "Keep a prompt under 280 characters.",
    "bad_number": "Say which prompt to remove by its number, e.g. `/coach prompts remove 2`.",
}

FORGET_ASK = (
    "⚠️ This deletes *everything* PM Coach knows about you: wins, streaks, reflections, prompts "
    "and settings. It cannot be undone."
)
FORGET_BUTTON = "Delete everything"
FORGET_CONFIRM_TITLE = "Delete everything?"
FORGET_CONFIRM_TEXT = "Your wins, streaks, reflections and settings will be gone for good."
FORGET_CONFIRM_YES = "Delete"
FORGET_CONFIRM_NO = "Keep my data"
FORGOTTEN = (
    "🗑️ Done. Everything PM Coach knew about you is deleted. If you ever use `/win` again, "
    "you start fresh."
)

EXPORT_PREPARING = "📄 Putting together your brag document for {label}…"
EXPORT_SENT = "📄 Your brag document for {label} is in our DM: {count} win{plural}."
EXPORT_FAILED = "😕 I couldn't send your brag document just now. Please try again in a minute."
EXPORT_BAD = {
    "bad_range": "Try `/coach export`, `/coach export last quarter` or "
    "`/coach export 2026-01-01..2026-03-31`.",
    "reversed": "The end of that range is before its start.",
    "too_long": "Export at most three years at once.",
    "future": "That range starts in the future.",
}
EXPORT_COMMENT = "Here is your brag document for {label}. It's private to you."

HOME_TITLE = "Your PM Coach"
HOME_BALANCE = "*Balance (4 weeks):* {percent}% clarity · target {target}%"
HOME_BALANCE_EMPTY = "*Balance:* nothing logged in the last 4 weeks yet"
HOME_STREAK = "*Clarity streak:* {current} week{plural} · longest {longest}"
HOME_RECENT = "Recent wins"
HOME_NO_WINS = "No wins yet. `/win clarity <something you made clear>` is a good start."
HOME_NEXT_NUDGE = "*Next reflection nudge:* {when} ({tz})"
HOME_NUDGES_OFF = "*Reflection nudges:* off"
HOME_PAUSED = "🏖️ You're paused this week: no nudges, and your streak waits."
HOME_SHARING = "Sharing in the team recap: {state}"
HOME_LOG = "Log a win"
HOME_SETTINGS = "Settings"
HOME_PROMPTS = "My prompts"
HOME_FORGET = "Delete my data"
HOME_FORGOTTEN = "Everything PM Coach knew about you has been deleted. Use `/win` to start fresh."

SETTINGS_TITLE = "Settings"
SETTINGS_SAVE = "Save"
SETTINGS_TARGET = "Clarity target"
SETTINGS_TZ = "Time zone"
SETTINGS_TZ_HINT = "An IANA name like Europe/Berlin; leave empty to follow your Slack setting."
SETTINGS_SHARE = "Team recap"
SETTINGS_SHARE_OPTION = "Show my clarity wins, with my name, in the weekly team recap"
SETTINGS_PAUSE = "Pause (vacation)"
SETTINGS_PAUSE_NONE = "Not paused"

PROMPTS_MODAL_TITLE = "My prompts"
PROMPTS_MODAL_ADD = "Add a prompt of your own"
PROMPTS_MODAL_SUBMIT = "Add"
PROMPTS_REMOVE = "Remove"

EDIT_TITLE = "Edit win"
EDIT_SUBMIT = "Save"
EDIT_SAVED_TITLE = "Win updated"
EDIT_GONE = "That win no longer exists (it was deleted)."

# Nudges, reflections, welcome ----------------------------------------------------------------

WELCOME = (
    "👋 *Welcome to PM Coach.* Log your wins as 🚀 shipped or 🧭 created clarity, and I'll "
    "help you see which kind of work fills your weeks.\n"
    "*What happens next:* {schedule_line}, I'll send you one short reflection question here, "
    "with your week so far. Answer it, log a clarity win, snooze it or skip the week — or "
    "just ignore it; I'll back off if you do.\n"
    "*Change it:* `/coach nudges mon,thu 09:30` · *Stop it:* `/coach nudges off` · "
    "*Vacation:* `/coach pause 2w` · everything else: `/coach help`"
)
WELCOME_SCHEDULE = "every {days} at {time} ({tz})"
WELCOME_NO_SCHEDULE = "whenever you switch nudges on (`/coach nudges fri 15:00`)"
NUDGE_WEEK = "This week so far: {shipped} 🚀 shipped, {clarity} 🧭 clarity"
NUDGE_FALLBACK = "Your weekly reflection: {prompt}"
NUDGE_BACKOFF = (
    "I noticed my last few nudges came at a bad time, so I'll check in every other week for "
    "now. Any reply, win or command brings the weekly rhythm back."
)
NUDGE_LOG = "Log a clarity win"
NUDGE_REFLECT = "Reflect"
NUDGE_SNOOZE = "Snooze 1 day"
NUDGE_SKIP = "Skip this week"
NUDGE_DONE_REFLECTED = "✍️ Reflection saved privately."
NUDGE_DONE_LOGGED = "🧭 Clarity win logged."
NUDGE_DONE_SNOOZED = "⏰ Snoozed — I'll ask again {when}."
NUDGE_DONE_SKIPPED = "👍 Skipping this week. See you next week."

REFLECT_TITLE = "Reflect"
REFLECT_SUBMIT = "Save"
REFLECT_LABEL = "Your answer (private to you)"
REFLECT_SAVED = "✍️ Saved privately: only you can see your reflections."
REFLECT_BLANK = "Write a few words to save a reflection."
REFLECT_TOO_LONG = "Keep a reflection under 3,000 characters. Nothing was saved."
REFLECTION_NOT_SAVED = (
    "⚠️ Your reflection was *not saved*: my storage is unavailable right now. "
    "Please try again in a minute. Here is your text so nothing is lost:"
)
REFLECTION_UNCONFIRMED = (
    "⚠️ I couldn't confirm your reflection was saved: my storage did not answer in time. "
    "Check `/coach history` (it lists your latest reflections) before saving it again. "
    "Here is your text:"
)
REFLECTION_UNCONFIRMED_SHORT = (
    "Not confirmed: storage did not answer in time. It may be saved: check /coach history first."
)
REFLECTIONS_TITLE = "Your latest reflections (only you see these)"

NUDGES_SET = "🔔 Reflection nudges: {schedule} ({tz}). Next one: {next}."
NUDGES_OFF = "🔕 Reflection nudges are off. `/coach nudges fri 15:00` switches them back on."
NUDGES_SHOW = "🔔 Reflection nudges: {schedule} ({tz})."
NUDGES_BAD = (
    "Tell me the days and the time, for example `/coach nudges mon,thu 09:30`, "
    "`/coach nudges fri 3pm`, `/coach nudges weekdays 08:45` or `/coach nudges off`."
)
HOME_START = "Get started"
HOME_ONBOARDING = (
    "Press *Get started* (or use any command) and I'll send you a short welcome message with "
    "how the weekly reflection works — you can change or stop it at any time."
)
SETTINGS_NUDGE_DAYS = "Reflection nudge days"
SETTINGS_NUDGE_TIME = "Nudge time (your time zone)"
SETTINGS_NUDGES_HINT = "Tick none to switch reflection nudges off."

# Team recap ----------------------------------------------------------------------------------

RECAP_TURNED_OFF = (
    "ℹ️ I couldn't post the weekly team recap to <#{channel}>: the channel is archived or I no "
    "longer have access, so I switched the recap off. Run `/coach recap here` in the channel "
    "you'd like to use instead."
)
RECAP_NOT_IN_CHANNEL_OFF = (
    "ℹ️ I couldn't post the weekly team recap to <#{channel}> because I'm not a member, so I "
    "switched it off. Invite me with `/invite @PM Coach` in that channel, then run "
    "`/coach recap here` there."
)
RECAP_ADMINS_ONLY = (
    "🙏 Only Slack workspace admins and owners{extra} can change the team recap. "
    "Ask one of them to set it up."
)
RECAP_ADMINS_EXTRA = " (and {people})"
RECAP_HERE = (
    "📣 The weekly team recap will be posted here: {schedule}. It covers the week before, "
    "shows team numbers only, and celebrates clarity wins by name only for people who opted in "
    "with `/coach share on`."
)
RECAP_NOT_A_CHANNEL = "Run `/coach recap here` in the channel where the recap should go."
RECAP_INVITE_ME = (
    "⚠️ I'm not a member of this channel yet, so I can't post here. Invite me with "
    "`/invite @PM Coach`, then the recap will go out as planned."
)
RECAP_OFF = "🔕 The weekly team recap is off. `/coach recap here` in a channel turns it back on."
RECAP_TIME_SET = "🗓️ The weekly team recap now goes out {schedule}."
RECAP_TIME_NO_CHANNEL = (
    "🗓️ Saved: {schedule}. Now run `/coach recap here` in the channel where it should go."
)
RECAP_SHOW = "📣 The weekly team recap goes to <#{channel}>: {schedule}. Next: {next}."
RECAP_SHOW_OFF = "The weekly team recap is off. An admin can run `/coach recap here` in a channel."
RECAP_BAD = (
    "Try `/coach recap here`, `/coach recap off` or `/coach recap mon 09:00 Europe/Berlin` "
    "(day, time and an optional time zone)."
)

# A nudge's button (Snooze, Skip, Reflect), `/reflect` or a reflection form from a PM without a
# profile: a newcomer, or a PM who used forget-me and clicked a nudge still in their DM. Only a
# win enrols, so nothing was saved and no welcome is sent.
NOT_SET_UP = (
    "Not saved: PM Coach isn't set up for you (or has forgotten you, as you asked). "
    "Log a win with `/win` to start."
)

# `/coach recap here|off|<day> <HH:MM>` from someone not in ADMIN_USER_IDS, and `/coach timezone
# auto`: the answer cannot wait for Slack (users.info), so it says what is happening and the
# outcome follows privately a moment later.
RECAP_CHECKING_ADMIN = "🔎 Checking with Slack that you're a workspace admin… one moment."
TZ_AUTO_ASKING = "🕰️ Asking Slack for your time zone… one moment."
TZ_AUTO_FAILED = (
    "⚠️ Slack couldn't tell me your time zone just now, so it stays *{tz}*. "
    "Try `/coach timezone auto` again in a minute."
)
# `/coach nudges` from someone without a profile: no nudge comes before a first win.
NUDGES_NOT_YET = (
    "🔔 No reflection nudges yet: they start with your first win (`/win clarity …` or "
    "`/win shipped …`), every Friday at 15:00 in your Slack time zone unless you change it."
)
