"""All user-facing copy in one place, so tone stays consistent and reviewable."""

from __future__ import annotations

APP_NAME = "PM Coach"

WIN_LOGGED = {
    "shipped": "🚀 Logged a *shipped* win: {text}",
    "clarity": "🧭 Logged a *clarity* win: {text}",
}
WIN_ALREADY_LOGGED = "That one is already in your log — nothing added twice."
WIN_UNDONE = "↩️ Removed: {text}"
WIN_ALREADY_UNDONE = "That win was already removed."
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
    "⚠️ Your win was *not saved*: I can't reach my storage right now. "
    "Please try again in a minute. Here is your text so nothing is lost:"
)
NOT_DONE = "⚠️ That did *not* go through: I can't reach my storage right now. Please try again."
GENERIC_ERROR = "😕 Something went wrong on my side and nothing was changed. Please try again."

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

COACH_HELP = (
    "*PM Coach* helps you notice which kind of work filled your week.\n"
    "• `/win shipped <what>` — log an execution win 🚀\n"
    "• `/win clarity <what>` — log a clarity win 🧭 (decided, aligned, framed, unblocked)\n"
    "• `/win <what>` — I'll ask which lane\n"
    "• `/win` — open a form (backdate, add a link and who benefited)"
)
COACH_UNKNOWN = "I didn't understand `{text}`."
REFLECT_SOON = (
    "Reflections arrive with your weekly nudge, which is not switched on in this version yet. "
    "Meanwhile, log your wins with `/win`."
)
NOT_SAVED_SHORT = "Not saved: I can't reach my storage right now. Please submit again in a minute."

HOME_INTRO = (
    "*Welcome to PM Coach* 👋\n"
    "Busy weeks hide which kind of work filled them. Log your wins in two lanes and I'll show "
    "you the balance:\n"
    "• 🚀 *Shipped* — launched, released, fixed, delivered\n"
    "• 🧭 *Created clarity* — decided, aligned, framed a problem, unblocked others\n"
    "Try `/win clarity Framed the pricing question for the exec review`."
)
