"""MRML glue for measurements: rows of numbers as table nodes and back, and markups points.
Takes the scene as an argument, like LGECore.scene, so it runs inside Slicer and on slicer-core."""

import numpy as np
import vtk

from .errors import InputError


def rows_to_table_node(rows, scene, name="Table", node=None):
    """A table node from a list of dicts (one per row; columns in the first row's key order).

    Columns of whole numbers become integer columns, other numbers double, anything else text.
    """
    rows = list(rows)
    if not rows:
        raise InputError("No rows to put into the table.")
    columns = list(rows[0])
    for index, row in enumerate(rows):
        if list(row) != columns:
            raise InputError(f"Row {index} has columns {list(row)}; expected {columns}.")
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = node.GetTable()
    table.Initialize()
    for column in columns:
        values = [row[column].item() if isinstance(row[column], np.generic) else row[column]
                  for row in rows]
        if all(isinstance(v, int) for v in values):
            array = vtk.vtkIntArray()
        elif all(isinstance(v, (int, float)) for v in values):
            array = vtk.vtkDoubleArray()
        else:
            array = vtk.vtkStringArray()
            values = ["" if v is None else str(v) for v in values]
        array.SetName(str(column))
        for value in values:
            array.InsertNextValue(value)
        table.AddColumn(array)
    node.Modified()
    return node


def table_node_to_rows(node):
    """The rows of a table node as a list of dicts (numbers as int/float, text as str)."""
    table = node.GetTable()
    columns = [table.GetColumn(c) for c in range(table.GetNumberOfColumns())]
    rows = []
    for r in range(table.GetNumberOfRows()):
        row = {}
        for column in columns:
            value = column.GetValue(r)
            if isinstance(column, vtk.vtkIntArray):
                value = int(value)
            elif isinstance(column, vtk.vtkDoubleArray):
                value = float(value)
            row[column.GetName()] = value
        rows.append(row)
    return rows


def fiducial_points_ras(node):
    """World RAS positions (N, 3) of a markups node's control points, in their order."""
    if node is None or not node.IsA("vtkMRMLMarkupsNode"):
        raise InputError("A markups point list is needed.")
    points = np.zeros((node.GetNumberOfControlPoints(), 3))
    for index in range(len(points)):
        node.GetNthControlPointPositionWorld(index, points[index])
    return points
