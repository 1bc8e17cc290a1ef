"""Rating answers in the Chat tab: a thumb up or down on a recorded answer, and a comment.

The ratings go to the QA recorder, onto the answer's record; the browser session's
`QaSession` keeps what was rated so far, so a comment lands on the last answer rated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gradio as gr

from autoglm_demo.conversation import Turn, TurnStatus
from autoglm_demo.qa.recorder import QaSession, Recorder
from autoglm_demo.qa.records import Feedback, Rating, utc_now
from autoglm_demo.ui.i18n import label, request_locale, text
from autoglm_demo.ui.view import turn_of_message


class FeedbackBox:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def rate(
        self, turns: list[Turn], session: QaSession, like: gr.LikeData, request: gr.Request
    ) -> tuple[Any, Any]:
        """A thumb clicked (or un-clicked) on an answer; opens the comment box for it."""
        locale = request_locale(request)
        turn = turn_of_message(turns, like.index) if isinstance(like.index, int) else None
        if turn is None or turn.status in (TurnStatus.WAITING, TurnStatus.STREAMING):
            gr.Warning(text("qa_not_finished", locale))
            return gr.skip(), gr.skip()
        if turn.record_id is None:
            gr.Warning(text("qa_not_recorded", locale))
            return gr.skip(), gr.skip()
        if like.liked == "":  # the same thumb clicked again: no rating any more
            session.feedback.pop(turn.record_id, None)
            session.commenting = None
            self.recorder.rate(turn.record_id, None)
            return gr.Row(visible=False), ""
        earlier = session.feedback.get(turn.record_id)
        feedback = Feedback(
            Rating.GOOD if like.liked is True else Rating.BAD, earlier.comment if earlier else ""
        )
        session.feedback[turn.record_id] = feedback
        session.commenting = turn.record_id
        self.recorder.rate(turn.record_id, feedback)
        return gr.Row(visible=True), feedback.comment

    def save_comment(self, session: QaSession, comment: str, request: gr.Request) -> None:
        locale = request_locale(request)
        rated = session.feedback.get(session.commenting or "")
        if session.commenting is None or rated is None:
            gr.Warning(text("qa_nothing_rated", locale))
            return
        feedback = dataclasses.replace(rated, comment=comment.strip(), updated_at=utc_now())
        session.feedback[session.commenting] = feedback
        self.recorder.rate(session.commenting, feedback)
        gr.Info(text("qa_comment_saved", locale))


def build_feedback(
    box: FeedbackBox, chatbot: gr.Chatbot, turns: gr.State, session: gr.State
) -> None:
    """The comment box under the chat, shown once an answer is rated."""
    with gr.Row(visible=False, elem_id="qa-feedback") as row:
        comment = gr.Textbox(
            label=label("qa_comment"),
            placeholder=label("qa_comment_placeholder"),
            scale=4,
            elem_id="qa-comment",
        )
        save = gr.Button(label("qa_save_comment"), scale=1, elem_id="qa-save-comment")
    chatbot.like(box.rate, [turns, session], [row, comment])
    save.click(box.save_comment, [session, comment], None)
    comment.submit(box.save_comment, [session, comment], None)
