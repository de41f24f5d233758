"""(being written)"""
from flask import Blueprint

bp = Blueprint("voice", __name__)
