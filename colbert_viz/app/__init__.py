"""The Gradio app around the package: the page (``ui``) and its API, the
requests it accepts (``inputs``, ``limits``), the models it serves
(``registry``), the Runs it keeps (``run_store``), exports and page texts.
"""

from __future__ import annotations
