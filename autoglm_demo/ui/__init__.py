"""The Gradio page: tabs, event wiring, views, overlay drawing, i18n. Built on
`autoglm_demo.answering` and `autoglm_demo.qa`; composed with the API by `autoglm_demo.main`."""
