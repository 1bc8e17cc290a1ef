"""Speech to text for a model that has no audio input: ASR engines behind one interface.

No HTTP here. `service.Speech` is what the server and the page use; it decodes and checks
the audio (`audio`), loads the configured engine on first use, and runs it off the event loop.
"""
