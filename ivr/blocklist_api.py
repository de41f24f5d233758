"""(being written by the blocklist work)"""
from flask import Blueprint

bp = Blueprint("blocklist_api", __name__)
