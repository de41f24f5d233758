"""(being written)"""
import click


@click.group()
def group() -> None:
    """(being written)"""
