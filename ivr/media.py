"""(being written by the prompts work) Serves prompt recordings; builds <Play>/<Say> for a prompt."""
from flask import Blueprint

bp = Blueprint("media", __name__)
