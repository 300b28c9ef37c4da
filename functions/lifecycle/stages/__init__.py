"""The lifecycle stages, one folder each: its messages, its journey (pure), its settings and
its thin handlers. Stages never import each other."""
