"""Every piece of page text, in English and Chinese.

Static labels go to the browser through `gr.I18n` (the browser's language picks the table).
Text the handlers write into the chat at run time (errors, the reasoning title, metrics)
is not translated by Gradio's frontend, so handlers look it up here with the locale of the
request's Accept-Language header: one table serves both paths.
"""

from __future__ import annotations

import gradio as gr

DEFAULT_LOCALE = "en"

TRANSLATIONS: dict[str, dict[str, str]] = {
    "en": {
        "title": "AutoGLM-Phone-9B demo",
        "subtitle": "Upload phone screenshots, ask a question, and watch the answer stream in next to the model's reasoning.",
        "chat": "Conversation",
        "tab_chat": "Chat",
        "input_placeholder": "Ask about a screenshot, or give the phone agent a task… (drop or paste images here)",
        "microphone": "Speak, or upload audio (wav, mp3, m4a, ogg, webm, flac)",
        "voice_review": "Review the transcript before sending",
        "transcription_failed": "Could not transcribe the audio",
        "send": "Send",
        "stop": "Stop",
        "regenerate": "Regenerate",
        "undo": "Undo",
        "clear": "Clear",
        "settings": "Settings",
        "model": "Model",
        "precision": "Precision",
        "refresh_models": "Refresh models",
        "thinking": "Thinking (show the reasoning trace)",
        "temperature": "Temperature",
        "top_p": "Top-p",
        "max_tokens": "Max new tokens",
        "system_prompt": "System prompt",
        "examples": "Examples",
        "reasoning": "Reasoning",
        "error": "Error",
        "stopped": "Stopped",
        "empty_input": "Type a message, attach an image or record audio first.",
        "nothing_to_regenerate": "There is no answer to regenerate yet.",
        "no_models": "The backend lists no models yet (it may still be loading); refresh in a moment.",
        "backend": "Backend",
        "models_unreachable": "Could not list models",
        "ttft": "first token",
        "tokens_per_second": "tok/s",
        "prompt_tokens": "prompt",
        "completion_tokens": "completion",
        "actions_overlay": "Actions drawn on the screenshot",
    },
    "zh": {
        "title": "AutoGLM-Phone-9B 演示",
        "subtitle": "上传手机截图并提问，实时查看模型的回答以及旁边的推理过程。",
        "chat": "对话",
        "tab_chat": "聊天",
        "input_placeholder": "针对截图提问，或给手机智能体一个任务……（可拖放或粘贴图片）",
        "microphone": "说话，或上传音频（wav、mp3、m4a、ogg、webm、flac）",
        "voice_review": "发送前先检查转写文本",
        "transcription_failed": "无法转写这段音频",
        "send": "发送",
        "stop": "停止",
        "regenerate": "重新生成",
        "undo": "撤销",
        "clear": "清空",
        "settings": "设置",
        "model": "模型",
        "precision": "精度",
        "refresh_models": "刷新模型列表",
        "thinking": "思考模式（显示推理过程）",
        "temperature": "温度",
        "top_p": "Top-p",
        "max_tokens": "最大生成长度",
        "system_prompt": "系统提示词",
        "examples": "示例",
        "reasoning": "推理过程",
        "error": "错误",
        "stopped": "已停止",
        "empty_input": "请先输入消息、添加图片或录制语音。",
        "nothing_to_regenerate": "还没有可以重新生成的回答。",
        "no_models": "后端暂未列出模型（可能仍在加载），请稍后刷新。",
        "backend": "后端",
        "models_unreachable": "无法获取模型列表",
        "ttft": "首字延迟",
        "tokens_per_second": "词元/秒",
        "prompt_tokens": "输入",
        "completion_tokens": "输出",
        "actions_overlay": "截图上标出的动作",
    },
}

I18N = gr.I18n(**TRANSLATIONS)


def label(key: str) -> gr.i18n.I18nData:
    """A label the browser translates; raises KeyError early for a key with no text."""
    if key not in TRANSLATIONS[DEFAULT_LOCALE]:
        raise KeyError(key)
    return I18N(key)


def text(key: str, locale: str) -> str:
    """Run-time text in `locale`, falling back to English."""
    table = TRANSLATIONS.get(locale, TRANSLATIONS[DEFAULT_LOCALE])
    return table.get(key, TRANSLATIONS[DEFAULT_LOCALE][key])


def locale_from_header(accept_language: str | None) -> str:
    """The first supported language in an Accept-Language header ("zh-CN,zh;q=0.9,en;q=0.8")."""
    for part in (accept_language or "").split(","):
        language = part.split(";")[0].strip().lower().split("-")[0]
        if language in TRANSLATIONS:
            return language
    return DEFAULT_LOCALE
