"""(being written by the reports work)"""
from flask import Blueprint

bp = Blueprint("reports", __name__)
