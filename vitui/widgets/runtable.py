"""Provides RunTable: the runs folder as a table, filtered and sorted by any column, with marks for comparing."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from vitui.widgets.keys import KeysInOrder

from vitui.core.runfolder import RunInfo
from vitui.render.runs import (
    NAME,
    RUN_COLUMNS,
    SETTINGS,
    STATUS,
    RowCache,
    filter_runs,
    row_texts,
    sort_runs,
    state_style,
)

MARK = "● "  # before a run marked for comparing; two blanks otherwise
MIN_SETTINGS = 8  # narrower than this, the settings column is left out (cells are cut to one line here)
# Rows in the table at most: the first of the filtered, sorted runs. Textual's DataTable measures every cell when
# rows change (1.5 s for 5,000 runs, keys waiting), and nobody scrolls past a few hundred rows: the filter finds
# the rest, and the hint says how many there are.
MAX_ROWS = 400


class RunTable(KeysInOrder, DataTable):
    """One row per run, keyed by its path; the settings column takes the width the others leave.

    Cells are redrawn only when what they show changed (the browser refreshes every two seconds).
    """

    BINDINGS = [
        Binding("enter", "select_cursor", "open", show=False),
        Binding("home", "scroll_top", "first run", show=False),
        Binding("end", "scroll_bottom", "last run", show=False),
    ]

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.runs: list[RunInfo] = []
        self.marked: set[str] = set()
        self.sort_column, self.sort_descending = NAME, RUN_COLUMNS[NAME].descending  # newest first
        self.filter_text = ""
        self.shown: list[RunInfo] = []  # the rows of the table, MAX_ROWS at most
        self.matching = 0  # the runs the filter lets through, shown or not
        self._layout: tuple | None = None  # columns, order and rows on screen
        self._cells: dict[str, tuple] = {}  # each row's texts on screen, and whether it is marked
        self.texts = RowCache()  # each run's column texts, kept while its folder does not change

    # ---- what to show
    def show(self, runs: list[RunInfo], marked: set[str]) -> None:
        self.runs, self.marked = runs, marked
        self.redraw()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.redraw()

    def sort_by(self, column: int) -> None:
        """Sort by a column; again on the same column reverses the order."""
        if column == self.sort_column:
            self.sort_descending = not self.sort_descending
        else:
            self.sort_column, self.sort_descending = column, RUN_COLUMNS[column].descending
        self.redraw()

    def sort_next(self) -> None:
        self.sort_by((self.sort_column + 1) % len(RUN_COLUMNS))

    def reverse_sort(self) -> None:
        self.sort_by(self.sort_column)

    def current_run(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    # ---- drawing
    def on_resize(self) -> None:
        self.redraw()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(int(str(event.column_key.value)))

    def redraw(self) -> None:
        """Rebuild the table when its rows or columns change; otherwise update only the cells that changed, so
        that a running run's ticking time does not move the view."""
        ordered = sort_runs(filter_runs(self.runs, self.filter_text, self.texts), self.sort_column,
                            self.sort_descending, self.texts)
        self.matching, self.shown = len(ordered), ordered[:MAX_ROWS]
        cells = {str(r.path): (tuple(row), str(r.path) in self.marked)
                 for r, row in zip(self.shown, row_texts(self.shown, self.texts))}
        columns = self._column_widths([row for row, _ in cells.values()])
        layout = (columns, self.sort_column, self.sort_descending, tuple(cells))
        if layout != self._layout:
            self._layout = layout
            keep = self.current_run()
            self.clear(columns=True)
            for index, width in columns:
                self.add_column(self._label(index), key=str(index), width=width)
            for key, (row, _) in cells.items():
                self.add_row(*(self._cell(index, width, row[index], key) for index, width in columns), key=key)
            if keep in cells:
                self.move_cursor(row=self.get_row_index(keep))
        else:
            for key, (row, marked) in cells.items():
                if (row, marked) != self._cells.get(key):
                    for index, width in columns:
                        self.update_cell(key, str(index), self._cell(index, width, row[index], key))
        self._cells = cells

    def _column_widths(self, rows: list[tuple[str, ...]]) -> tuple[tuple[int, int], ...]:
        """(column, width) of the columns shown: each as wide as its widest cell, settings what is left."""
        # Room for the sort arrow in every title, so that sorting does not move the columns.
        widths = [max([len(column.title) + 2, *(len(row[i]) for row in rows)]) for i, column in enumerate(RUN_COLUMNS)]
        widths[NAME] += len(MARK)
        padding = 2 * self.cell_padding
        # The vertical scrollbar takes its width once the rows outgrow the table (one line is the header).
        scrollbar = self.styles.scrollbar_size_vertical if len(rows) > self.size.height - 1 else 0
        room = self.size.width - scrollbar - sum(w + padding for w in widths[:SETTINGS]) - padding
        shown = [(i, widths[i]) for i in range(SETTINGS)]
        if room >= MIN_SETTINGS or not self.size.width:  # not laid out yet: draw it all, the resize redraws
            shown.append((SETTINGS, max(MIN_SETTINGS, min(widths[SETTINGS], room))))
        return tuple(shown)

    def _label(self, index: int) -> str:
        arrow = (" ▼" if self.sort_descending else " ▲") if index == self.sort_column else ""
        return RUN_COLUMNS[index].title + arrow

    def _cell(self, index: int, width: int, text: str, key: str) -> Text:
        if index == NAME:
            return Text.assemble((MARK if key in self.marked else " " * len(MARK), "bold magenta"), text)
        if index == SETTINGS:
            cell = Text(text, style="dim" if text == "defaults" else "")
            cell.truncate(width, overflow="ellipsis")
            return cell
        return Text(text, style=state_style(text) if index == STATUS else "")
