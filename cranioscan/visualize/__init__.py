"""What CranioScan draws and writes for a reader, without Streamlit.

Pure functions from a series, its :class:`~cranioscan.series_result.SeriesResult`
and the model card to figures, images, tables and documents; the dashboard
(:mod:`cranioscan.ui`), the command line and the PACS results all format
through them.

- :mod:`.text`: texts and labels (class and method names, colours);
- :mod:`.case_view`: the slice table, probability chart and case facts;
- :mod:`.slice_image`, :mod:`.overlay`: slices in a window, heatmaps and
  outlines drawn on them;
- :mod:`.card_view`, :mod:`.validation_view`: the model card and the
  validation run as tables and figures;
- :mod:`.case_report`, :mod:`.export`: the PDF report and the CSV / PNG
  downloads;
- :mod:`.names`: download file names that carry no patient identifiers.
"""
